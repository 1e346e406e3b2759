"""Document numbers per tenant ("PI-000123", "CM-000042"): one counter row per tenant and kind.

One UPSERT ... RETURNING takes the next value and row-locks the counter until the caller's transaction
ends, so two concurrent requests never get the same number and a rolled-back one gives its number back.
"""

from django.db import connection

from .models import NumberSequence
from .tenancy import current_tenant_id


def next_number(key: str, *, width: int = 6) -> str:
    table = NumberSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, key, last) VALUES (%s, %s, 1) "  # noqa: S608 - our own table name
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [current_tenant_id(), key],
        )
        (value,) = cursor.fetchone()
    return f"{key}-{value:0{width}d}"


def next_numbers(key: str, count: int, *, width: int = 6) -> list[str]:
    """`count` consecutive numbers in one statement (a batch of system-requested instructions)."""
    if count <= 0:
        return []
    table = NumberSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, key, last) VALUES (%s, %s, %s) "  # noqa: S608 - our own table name
            f"ON CONFLICT (tenant_id, key) DO UPDATE SET last = {table}.last + %s RETURNING last",
            [current_tenant_id(), key, count, count],
        )
        (last,) = cursor.fetchone()
    return [f"{key}-{value:0{width}d}" for value in range(last - count + 1, last + 1)]
