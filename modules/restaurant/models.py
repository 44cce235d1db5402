"""Models of the restaurant module, in its own database."""
