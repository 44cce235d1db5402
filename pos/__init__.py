"""The shared kernel: no business rules. It never imports a module (enforced by .importlinter)."""
