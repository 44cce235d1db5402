"""Errors of the restaurant module; each maps to a problem response with actionable `extra` data."""

from pos.errors import Conflict, InvalidInput, NotFound


class MenuNotFound(NotFound):
    type = "menu-not-found"
    title = "Menu not found"


class MenuNameTaken(Conflict):
    type = "menu-name-taken"
    title = "A menu with this name exists"


class InvalidMenuWindow(InvalidInput):
    type = "invalid-menu-window"
    title = "Invalid availability window"


class MenuProductUnavailable(InvalidInput):
    """extra: products=[{product_id, reason: unknown|inactive}]; unknown includes another tenant's products."""

    type = "menu-product-unavailable"
    title = "Product cannot be put on a menu"


class TableNotFound(NotFound):
    type = "table-not-found"
    title = "Table not found"


class TableCodeTaken(Conflict):
    type = "table-code-taken"
    title = "A table with this code exists"


class TableNotFree(Conflict):
    """extra: table_id, table_status."""

    type = "table-not-free"
    title = "Table is not free"


class NoOpenTab(Conflict):
    """extra: table_id, table_status."""

    type = "no-open-tab"
    title = "Table has no open tab"


class TableNotCleanable(Conflict):
    type = "table-not-cleanable"
    title = "Only a table that needs cleaning can be marked free"


class SameTable(InvalidInput):
    type = "same-table"
    title = "Source and target table are the same"
