"""Models of the pos_core module, in its own database."""
