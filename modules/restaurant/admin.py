"""Admin of the restaurant module for managers."""
