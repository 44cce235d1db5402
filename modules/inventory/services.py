"""Writes of the inventory module: one transaction in its own database each."""
