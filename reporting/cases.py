"""Figures of the disputes and deductions dashboard: volumes, cycle times, SLA breaches, root causes,
valid vs invalid, recovery.

Every figure is aggregated in SQL (a fixed number of queries whatever the volume). Cases count whatever
their currency; money is summed in the tenant's base currency only, since amounts of different currencies
cannot be added without exchange rates (a multi-currency tenant sees that stated on the page).
The period is the window of cases *opened* (volumes, root causes, decisions) or *resolved* (cycle times).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Aggregate, Count, DateTimeField, F, FloatField, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, Extract, TruncWeek
from django.utils import timezone

from deductions import selectors as deduction_selectors
from deductions.models import CLOSED, Deduction, DeductionStatus, Resolution
from deductions.models import Category as DeductionCategory
from disputes.models import OPEN_STATUSES, Dispute, DisputeStatus
from disputes.models import Resolution as DisputeResolution
from o2c.models import AuditEvent

PERIODS = (30, 90, 365)
DEFAULT_PERIOD = 90
ZERO = Decimal("0")
SECONDS_PER_DAY = 86400.0
# A deduction decided valid (we owe it) or invalid (the customer owes it), before or after resolution.
VALID_RESOLUTIONS = (Resolution.CREDIT_MEMO, Resolution.WRITE_OFF)
INVALID_RESOLUTIONS = (Resolution.REBILL, Resolution.COLLECTION_RESTART, Resolution.REPAYMENT)
# Parts of a split or merge and cases cancelled with their application are bookkeeping, not claims.
NOT_A_CLAIM = (DeductionStatus.SPLIT, DeductionStatus.MERGED, DeductionStatus.CANCELLED)


class Percentile(Aggregate):
    """Postgres percentile_cont: the value below which `fraction` of the rows fall (interpolated)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass
class Bar:
    key: str
    label: str
    count: int
    amount: Decimal = ZERO
    other_currency: int = 0  # cases in another currency: counted, not in `amount`


@dataclass
class CycleTime:
    kind: str
    resolved: int
    median_days: float | None
    p90_days: float | None


@dataclass
class Week:
    """One week of the trend: SLA breaches per kind and the median days to resolve of the cases resolved in it."""

    week: datetime
    deductions: int
    disputes: int
    deduction_median_days: float | None = None
    dispute_median_days: float | None = None

    @property
    def total(self) -> int:
        return self.deductions + self.disputes


@dataclass
class Decisions:
    valid: int = 0
    valid_amount: Decimal = ZERO
    invalid: int = 0
    invalid_amount: Decimal = ZERO
    accepted: int = 0
    accepted_amount: Decimal = ZERO
    rejected: int = 0
    rejected_amount: Decimal = ZERO
    deductions_breached_now: int = 0
    disputes_breached_now: int = 0


@dataclass
class CaseDashboard:
    days: int
    currency: str
    since: datetime
    deduction_status: list[Bar]
    dispute_status: list[Bar]
    cycle_times: list[CycleTime]
    decisions: Decisions
    weeks: list[Week]
    dispute_root_causes: list[Bar]
    deduction_categories: list[Bar]
    recovery: dict = field(default_factory=dict)

    @property
    def other_currencies(self) -> bool:
        return any(b.other_currency for b in self.deduction_status + self.dispute_status)

    @property
    def breaches_in_period(self) -> int:
        return sum(w.total for w in self.weeks)


def period_days(raw) -> int:
    try:
        days = int(raw)
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def case_dashboard(*, currency: str, days: int = DEFAULT_PERIOD, now: datetime | None = None) -> CaseDashboard:
    """Everything the dashboard shows, for the current tenant."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    deductions = Deduction.objects.exclude(status__in=NOT_A_CLAIM)
    resolved = {"Deductions": _resolved_deductions(deductions, since), "Disputes": _resolved_disputes(since)}
    return CaseDashboard(
        days=days, currency=currency, since=since,
        deduction_status=_deduction_status(since, currency),
        dispute_status=_dispute_status(since, currency),
        cycle_times=[_cycle(qs, kind) for kind, qs in resolved.items()],
        decisions=_decisions(deductions, since, now, currency),
        weeks=_weeks(since, now, *(_median_by_week(qs) for qs in resolved.values())),
        dispute_root_causes=_dispute_root_causes(since),
        deduction_categories=_deduction_categories(deductions, since, currency),
        recovery=deduction_selectors.metrics(Deduction.objects.filter(currency=currency), days=days),
    )


def _in_currency(currency: str, field_name: str = "amount"):
    return Sum(field_name, filter=Q(currency=currency), default=ZERO)


def _deduction_status(since, currency) -> list[Bar]:
    rows = {r["status"]: r for r in (Deduction.objects.filter(created_at__gte=since).values("status")
                                     .annotate(n=Count("pk"), total=_in_currency(currency),
                                               other=Count("pk", filter=~Q(currency=currency))))}
    return [Bar(s.value, s.label, rows[s]["n"], rows[s]["total"], rows[s]["other"])
            for s in DeductionStatus if s in rows]


def _dispute_status(since, currency) -> list[Bar]:
    rows = {r["status"]: r for r in (Dispute.objects.filter(created_at__gte=since).values("status")
                                     .annotate(n=Count("pk"), total=_in_currency(currency),
                                               other=Count("pk", filter=~Q(currency=currency))))}
    return [Bar(s.value, s.label, rows[s]["n"], rows[s]["total"], rows[s]["other"])
            for s in DisputeStatus if s in rows]


def _cycle_days():
    """Days from opened to resolved of a queryset annotated with `resolved_at`."""
    return Extract(F("resolved_at") - F("created_at"), "epoch") / SECONDS_PER_DAY


def _cycle(qs, kind: str) -> CycleTime:
    row = qs.aggregate(n=Count("pk"), median=Percentile(_cycle_days(), 0.5), p90=Percentile(_cycle_days(), 0.9))
    return CycleTime(kind, row["n"], _one_decimal(row["median"]), _one_decimal(row["p90"]))


def _median_by_week(qs) -> dict[datetime, float]:
    rows = (qs.annotate(week=TruncWeek("resolved_at")).values("week")
            .annotate(median=Percentile(_cycle_days(), 0.5)).values_list("week", "median"))
    return {week: _one_decimal(median) for week, median in rows}


def _one_decimal(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _resolved_deductions(deductions, since):
    return deductions.filter(status=DeductionStatus.RESOLVED, resolved_at__gte=since)


def _resolved_disputes(since):
    # A dispute keeps no resolution time of its own: its last "resolved" audit event is it (after a reopen,
    # the case was resolved again later, and that is when it ended).
    resolved_at = (AuditEvent.objects.filter(object_type="dispute", object_id=OuterRef("pk"),
                                             action="dispute.resolved")
                   .values("object_id").annotate(at=Max("created_at")).values("at"))
    return (Dispute.objects.filter(status__in=(DisputeStatus.RESOLVED, DisputeStatus.CLOSED))
            .annotate(resolved_at=Subquery(resolved_at, output_field=DateTimeField()))
            .filter(resolved_at__gte=since))


def _decisions(deductions, since, now, currency) -> Decisions:
    valid = Q(status=DeductionStatus.VALID) | Q(status=DeductionStatus.RESOLVED, resolution__in=VALID_RESOLUTIONS)
    invalid = (Q(status=DeductionStatus.INVALID)
               | Q(status=DeductionStatus.RESOLVED, resolution__in=INVALID_RESOLUTIONS))
    base = Q(created_at__gte=since)
    money = Q(currency=currency)
    d = deductions.aggregate(
        valid=Count("pk", filter=base & valid), valid_amount=Sum("amount", filter=base & valid & money, default=ZERO),
        invalid=Count("pk", filter=base & invalid),
        invalid_amount=Sum("amount", filter=base & invalid & money, default=ZERO),
        breached=Count("pk", filter=~Q(status__in=CLOSED) & Q(sla_due__lte=now)))
    accepted = Q(resolution__in=(DisputeResolution.ACCEPTED, DisputeResolution.PARTLY_ACCEPTED))
    rejected = Q(resolution=DisputeResolution.REJECTED)
    s = Dispute.objects.aggregate(
        accepted=Count("pk", filter=base & accepted),
        accepted_total=Sum("accepted_amount", filter=base & accepted & money, default=ZERO),
        rejected=Count("pk", filter=base & rejected),
        # What the customer claimed and we refused: the whole amount of a rejected case, the rest of a partly
        # accepted one.
        rejected_total=Sum(F("amount") - Coalesce("accepted_amount", ZERO),
                            filter=base & (accepted | rejected) & money, default=ZERO),
        breached=Count("pk", filter=Q(status__in=OPEN_STATUSES, due_at__lte=now)))
    return Decisions(valid=d["valid"], valid_amount=d["valid_amount"], invalid=d["invalid"],
                     invalid_amount=d["invalid_amount"], accepted=s["accepted"], accepted_amount=s["accepted_total"],
                     rejected=s["rejected"], rejected_amount=s["rejected_total"],
                     deductions_breached_now=d["breached"], disputes_breached_now=s["breached"])


def _weeks(since, now, deduction_medians, dispute_medians) -> list[Week]:
    """Every week of the period. SLA clocks that ran out: a deduction whose `sla_due` passed before it was
    resolved (or is still open), and every escalation of a dispute (each is a state clock that ran out)."""
    deduction_weeks = dict(
        Deduction.objects.exclude(status__in=NOT_A_CLAIM)
        .filter(sla_due__gte=since, sla_due__lte=now)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=F("sla_due")))
        .annotate(week=TruncWeek("sla_due")).values("week").annotate(n=Count("pk")).values_list("week", "n"))
    dispute_weeks = dict(
        AuditEvent.objects.filter(object_type="dispute", action="dispute.escalated", created_at__gte=since)
        .annotate(week=TruncWeek("created_at")).values("week").annotate(n=Count("pk")).values_list("week", "n"))
    weeks = []
    week = _week_start(since)
    while week <= now:
        weeks.append(Week(week, deduction_weeks.get(week, 0), dispute_weeks.get(week, 0),
                          deduction_medians.get(week), dispute_medians.get(week)))
        week += timedelta(days=7)
    return weeks


def _week_start(moment: datetime) -> datetime:
    """Monday 00:00 of the moment's week, in the zone TruncWeek uses (the current time zone)."""
    local = timezone.localtime(moment)
    monday = local - timedelta(days=local.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def _dispute_root_causes(since) -> list[Bar]:
    rows = (Dispute.objects.filter(created_at__gte=since).values("root_cause__code", "root_cause__name")
            .annotate(n=Count("pk")).order_by("-n", "root_cause__name"))
    return [Bar(r["root_cause__code"] or "", r["root_cause__name"] or "Not yet known", r["n"]) for r in rows]


def _deduction_categories(deductions, since, currency) -> list[Bar]:
    labels = dict(DeductionCategory.choices)
    rows = (deductions.filter(created_at__gte=since).values("reason_code__category")
            .annotate(n=Count("pk"), total=_in_currency(currency)).order_by("-n", "reason_code__category"))
    return [Bar(r["reason_code__category"] or "unknown",
                labels.get(r["reason_code__category"] or "unknown", "Unknown"), r["n"], r["total"]) for r in rows]
