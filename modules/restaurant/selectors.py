"""Reads of the restaurant module."""
