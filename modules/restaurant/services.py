"""Writes of the restaurant module: one transaction in its own database each."""
