"""Reads of the payment module."""
