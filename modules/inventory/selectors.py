"""Reads of the inventory module."""
