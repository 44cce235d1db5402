"""Admin of the payment module for managers."""
