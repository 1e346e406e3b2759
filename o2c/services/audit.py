"""The audit log: who changed what, when, from where. Every money-relevant service writes here."""

import json

from django.db import models

from ..models import AuditEvent
from ..tenancy import current_origin


def _jsonable(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def diff(obj: models.Model, before: dict, fields) -> dict:
    """{"field": [old, new]} for the fields that changed since `before` was taken."""
    changes = {}
    for name in fields:
        old, new = before.get(name), getattr(obj, name)
        if old != new:
            changes[name] = [_jsonable(old), _jsonable(new)]
    return changes


def snapshot(obj: models.Model, fields) -> dict:
    return {name: getattr(obj, name) for name in fields}


def audit_event(action: str, obj: models.Model, changes: dict | None = None, *, actor=None) -> AuditEvent:
    return audit_events([(action, obj, changes or {})], actor=actor)[0]


def audit_events(items, *, actor=None) -> list[AuditEvent]:
    """Write many events in one INSERT: (action, obj, changes) triples.

    The actor is the request's user; a service that is told who acts (a command, a task on someone's
    behalf) passes `actor` so the event names them even without a signed-in request.
    """
    actor_id, channel, ip, user_agent = audit_origin(actor)
    events = [
        AuditEvent(
            actor_id=actor_id,
            channel=channel,
            ip=ip,
            user_agent=user_agent,
            action=action,
            object_type=obj._meta.model_name,
            object_id=obj.pk,
            object_repr=str(obj)[:200],
            changes={k: [_jsonable(v) for v in pair] for k, pair in (changes or {}).items()},
        )
        for action, obj, changes in items
    ]
    return AuditEvent.objects.bulk_create(events, batch_size=2000)


def audit_origin(actor=None) -> tuple[int | None, str, str | None, str]:
    """(actor_id, channel, ip, user_agent) of the events written now, for the few bulk writers that insert
    their audit rows in the same SQL statement as their own rows (deductions opened by a matching run)."""
    origin = current_origin()
    return getattr(actor, "pk", None) or origin.user_id, origin.channel, origin.ip, origin.user_agent[:300]


def audit_events_bulk(items, *, actor=None) -> None:
    """The same rows as `audit_events`, for batches of thousands: one server-bound INSERT ... SELECT FROM
    unnest() instead of the ORM's bulk_create, which quotes every JSON value into the SQL text in Python.
    Returns nothing (no objects are built)."""
    items = list(items)
    if not items:
        return
    from ..bulk import bulk_cursor, pg_array
    from ..citus import returning_on_citus
    from ..tenancy import current_tenant_id

    actor_id, channel, ip, user_agent = audit_origin(actor)
    columns = (
        [action for action, _, _ in items],
        [obj._meta.model_name for _, obj, _ in items],
        [obj.pk for _, obj, _ in items],
        [str(obj)[:200] for _, obj, _ in items],
        [json.dumps({k: [_jsonable(v) for v in pair] for k, pair in (changes or {}).items()}, ensure_ascii=False)
         for _, _, changes in items],
    )
    with bulk_cursor() as cur:
        cur.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (tenant_id, created_at, actor_id, channel, ip, user_agent, "  # noqa: S608
            "action, object_type, object_id, object_repr, changes) "
            "SELECT %s, now(), %s::bigint, %s, %s::inet, %s, t.action, t.object_type, t.object_id, t.repr, "
            "t.changes::jsonb FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
            "AS t(action, object_type, object_id, repr, changes)" + returning_on_citus(),
            [current_tenant_id(), actor_id, channel, ip, user_agent, *map(pg_array, columns)])

