"""Splitting a legacy shared POS database into the module databases: its schema (docs/LEGACY.md), a generator
of realistic legacy databases, and the splitter. Writes go through the modules' apis only."""
