"""Models of the payment module, in its own database."""
