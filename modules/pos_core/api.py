"""The pos_core module's front door for other modules: plain functions, DTOs only."""
