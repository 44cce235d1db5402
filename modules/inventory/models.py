"""Models of the inventory module, in its own database."""
