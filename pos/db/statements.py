"""psycopg's cache of parsed statements, sized for our hot paths.

With client-side binding (Django's default), psycopg parses each statement's text to find its placeholders and
keeps the result in an LRU cache, but only for statements of at most 4,096 characters and 50 parameters. The
placement's widest writes are one statement each by design (`bulk.insert_together`: the order, its items, the saga
log and the outbox rows in one `WITH`; inventory's stock change and its ledger), so they are the longest and were
parsed again on every call: about a sixth of a placement's CPU in this process. `widen_statement_cache` raises
the two limits so those are parsed once per process. The cache keeps its size (128 statements, least recently used
out first): a statement shaped by a batch's row count that is seen once only costs its slot.

psycopg has no setting for this, so the two module constants are set at start-up; `statement_cache_limits`
reports them and `tests/test_placement_budget.py` checks that every statement of a placement fits them."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

STATEMENT_CHARACTERS = 32_768
STATEMENT_PARAMETERS = 1_000


def widen_statement_cache() -> bool:
    """Raise psycopg's limits on cached statements (never lower them). False when psycopg does not have them (a
    release that changed its internals): nothing is changed and a warning says so."""
    try:
        from psycopg import _queries
    except ImportError:  # no psycopg: SQLite only
        return False
    if not all(hasattr(_queries, name) for name in ("MAX_CACHED_STATEMENT_LENGTH", "MAX_CACHED_STATEMENT_PARAMS")):
        logger.warning("psycopg's statement cache limits were not found; long statements are parsed on each call")
        return False
    _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, STATEMENT_CHARACTERS)
    _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, STATEMENT_PARAMETERS)
    return True


def statement_cache_limits() -> tuple[int, int] | None:
    """(characters, parameters) of the longest statement psycopg keeps parsed, or None without psycopg."""
    try:
        from psycopg import _queries
    except ImportError:
        return None
    return _queries.MAX_CACHED_STATEMENT_LENGTH, _queries.MAX_CACHED_STATEMENT_PARAMS
