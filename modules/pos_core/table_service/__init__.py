"""Table service: open checks, rounds to the kitchen, voids, comps and discounts, the bill, splits and several
payments per check (see the module README)."""
