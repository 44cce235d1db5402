"""Admin of the inventory module for managers."""
