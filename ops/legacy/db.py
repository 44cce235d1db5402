"""A connection to a legacy database, PostgreSQL or SQLite, given as a URL.

`postgres://user@host:5432/name` (or `postgresql://`) or `sqlite:///relative/path` / `sqlite:////absolute/path`.
Opened read-only for the splitter: PostgreSQL in one REPEATABLE READ READ ONLY transaction (one consistent
snapshot for the whole run, and the server refuses any write), SQLite with `mode=ro`. Rows are read in pages,
never all at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


class LegacyDatabaseError(Exception):
    """The legacy database cannot be opened or read (bad URL, missing file or table, refused connection)."""


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise LegacyDatabaseError(f"Not a SQLite URL: {url!r} (use sqlite:///relative or sqlite:////absolute).")
    path = url[len("sqlite:///"):]
    if not path:
        raise LegacyDatabaseError("The SQLite URL names no file.")
    return Path(path)


class LegacyDB:
    def __init__(self, url: str, *, read_only: bool) -> None:
        self.url = url
        scheme = urlparse(url).scheme
        self.vendor = "postgresql" if scheme in ("postgres", "postgresql") else "sqlite" if scheme == "sqlite" else ""
        try:
            if self.vendor == "postgresql":
                import psycopg

                self.conn = psycopg.connect(url, autocommit=False,
                                            options="-c default_transaction_read_only=on" if read_only else "")
                if read_only:
                    self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                    self.conn.read_only = True
            elif self.vendor == "sqlite":
                path = sqlite_path(url)
                if read_only:
                    if not path.exists():
                        raise LegacyDatabaseError(f"No legacy database at {path}.")
                    self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self.conn = sqlite3.connect(str(path))
            else:
                raise LegacyDatabaseError(f"Unsupported legacy database URL {url!r}: use postgres:// or sqlite:///.")
        except LegacyDatabaseError:
            raise
        except Exception as exc:
            raise LegacyDatabaseError(f"Cannot open {redact(url)}: {exc}") from exc

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.vendor == "sqlite" else sql

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """A small result (counts, one page): read at once."""
        try:
            cursor = self.conn.cursor()
            cursor.execute(self._sql(sql), tuple(params))
            return cursor.fetchall()
        except Exception as exc:
            raise LegacyDatabaseError(f"Reading the legacy database failed: {exc}") from exc

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 2000) -> Iterator[tuple]:
        """A large result, fetched `size` rows at a time (a server-side cursor on PostgreSQL)."""
        try:
            if self.vendor == "postgresql":
                cursor = self.conn.cursor(name=f"legacy_{id(self)}_{abs(hash(sql)) % 10**8}")
                cursor.itersize = size
            else:
                cursor = self.conn.cursor()
            cursor.execute(self._sql(sql), tuple(params))
            while True:
                rows = cursor.fetchmany(size)
                if not rows:
                    break
                yield from rows
            cursor.close()
        except Exception as exc:
            raise LegacyDatabaseError(f"Reading the legacy database failed: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.cursor().execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        self.conn.cursor().executemany(self._sql(sql), rows)

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        try:
            self.conn.rollback()  # read-only: there is nothing to keep
        finally:
            self.conn.close()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
