from pos.errors import Conflict, InvalidInput, NotFound


class TenantNotFound(NotFound):
    type = "tenant-not-found"
    title = "Tenant not found"


class InvalidToken(InvalidInput):
    status = 401
    type = "invalid-token"
    title = "Invalid terminal token"


class TenantInactive(Conflict):
    type = "tenant-inactive"
    title = "The restaurant is deactivated"


class TerminalNotFound(NotFound):
    type = "terminal-not-found"
    title = "Terminal not found"


class TerminalNameTaken(Conflict):
    type = "terminal-name-taken"
    title = "A terminal with this name exists"


class InvalidImport(InvalidInput):
    """An imported restaurant or staff batch is malformed; `extra["errors"]` lists each field and why."""

    type = "invalid-accounts-import"
    title = "Invalid import"
