"""Writes of the payment module: one transaction in its own database each."""
