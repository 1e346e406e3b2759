"""Reads for reporting pages."""

from datetime import date

from .models import AgingSnapshot


def aging_snapshot_list(*, since: date | None = None, limit: int = 90):
    """The current tenant's snapshots, newest first."""
    snapshots = AgingSnapshot.objects.all()
    if since:
        snapshots = snapshots.filter(as_of__gte=since)
    return snapshots.order_by("-as_of")[:limit]
