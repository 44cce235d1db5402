"""Reads of the pos_core module."""
