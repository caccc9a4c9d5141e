"""Locks that live as long as the current database transaction."""

from __future__ import annotations

import hashlib

from django.db import connection


def lock_for_transaction(name: str) -> None:
    """Wait for, then hold until the transaction ends, the lock called ``name``.

    PostgreSQL: a transaction-level advisory lock (released by commit or rollback,
    safe behind PgBouncer's transaction pooling). SQLite: nothing to do, its
    transactions are IMMEDIATE (config/settings.py), one writer at a time already."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_for_transaction() outside a transaction would be released at once.")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL's advisory lock space)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
