"""The composition root of the DS's storage: picks the store for a ``--db`` value.

Only this module names the concrete stores; :mod:`.store` (the interface and the SQL
shared by both) imports neither, so using one never loads the other's driver."""

from __future__ import annotations

from .store import SqlStore


def open_store(db: str) -> SqlStore:
    """A store from ``--db``: a ``postgresql://`` URL, or a SQLite file path."""
    if db.startswith(("postgresql://", "postgres://")):
        from .store_postgres import PostgresStore

        return PostgresStore(db)
    from .store_sqlite import SqliteStore

    return SqliteStore(db)


__all__ = ["open_store"]
