"""Admin of the pos_core module for managers."""
