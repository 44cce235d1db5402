"""Writes of the pos_core module: one transaction in its own database each."""
