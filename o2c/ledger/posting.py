"""Posting applications: the one path by which cash reaches invoices, for one clerk's click or a run's
thousands of matches alike.

Locking order is always payments, then invoices, each in id order: two clerks, or a clerk and a worker,
touching the same rows queue behind each other instead of deadlocking. Under those locks every amount is
checked again against the current balances (the matcher saw a snapshot), so a posting that no longer fits
is refused by name and nothing of it is written. The check constraints on Payment and Invoice stand behind
this code: even a bug here cannot apply a payment beyond its amount or take an invoice below zero.

Rows go in through COPY into temporary tables and set-based INSERT/UPDATE (Postgres refuses COPY into a
table under row-level security; the INSERT ... SELECT is checked against the tenant policy row by row).

What a posting or a reversal caused comes back as ledger events (`o2c.ledger.events`): invoices settled or
reopened, payments fully applied, deductions opened or cancelled. They are dispatched to the subscribed apps
inside the same transaction (the deductions app inserts its rows, in bulk); a handler that refuses rolls the
whole posting or reversal back. The ledger writes only the journal and the balances, never an app's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter

from django.db import transaction

from o2c.bulk import bulk_cursor, pg_array
from o2c.citus import returning_on_citus
from o2c.errors import ApplicationError, ConflictError
from o2c.models.ledger import InvoiceStatus
from o2c.money import money_in_text, quantize
from o2c.tenancy import current_tenant_id

from . import events
from .events import (
    DeductionCancelled,
    DeductionOpened,
    InvoiceReopened,
    InvoiceSettled,
    LedgerEvent,
    PaymentFullyApplied,
)
from .status import invoice_status, invoice_status_sql, payment_status

ZERO = Decimal(0)


class LedgerError(ApplicationError):
    """A posting or reversal cannot be done; the message says why."""


class PostingRefused(LedgerError):
    """The application does not fit the payment or an invoice as they stand now; nothing was written."""


class PostingConflict(PostingRefused, ConflictError):
    """Refused because of what was done before (reversed already): a 409, not a bad request."""


@dataclass
class Line:
    invoice_id: int
    applied: Decimal
    discount: Decimal = ZERO
    deduction: Decimal = ZERO
    deduction_reason: str = ""
    deduction_text: str = ""
    write_off: Decimal = ZERO

    @property
    def settled(self) -> Decimal:
        return self.applied + self.discount + self.deduction + self.write_off


@dataclass
class Posting:
    """What one payment does: its lines, and why (kept on every application row)."""

    payment_id: int
    lines: list[Line]
    source: str  # ApplicationSource
    confidence: Decimal | None = None
    explanation: str = ""
    customer_id: int | None = None  # the payer, set on the payment when it was unknown
    refused: str = field(default="", init=False)


@dataclass
class PostingResult:
    posted: list[Posting]
    refused: list[Posting]
    application_ids: dict[int, list[int]]  # payment id -> ids of the rows written
    events: list[LedgerEvent] = field(default_factory=list)  # what the posting caused, dispatched already


@dataclass
class ReversalResult:
    application_ids: list[int]  # the reversing rows, one per reversed application, in ascending order of those
    events: list[LedgerEvent] = field(default_factory=list)  # dispatched already


def _lock_payments(cur, tenant_id: int, ids: list[int], lock: bool = True) -> dict[int, dict]:
    cur.execute(
        "SELECT id, amount, unapplied_amount, currency, customer_id FROM payments_payment "
        "WHERE tenant_id = %s AND id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE" if lock else
        "SELECT id, amount, unapplied_amount, currency, customer_id FROM payments_payment "
        "WHERE tenant_id = %s AND id = ANY(%s::bigint[]) ORDER BY id",
        [tenant_id, pg_array(ids)],
    )
    return {r[0]: {"amount": r[1], "unapplied": r[2], "currency": r[3], "customer_id": r[4],
                   "was": (r[2], r[4])} for r in cur.fetchall()}


def _lock_invoices(cur, tenant_id: int, ids: list[int]) -> dict[int, dict]:
    cur.execute(
        "SELECT id, amount, open_balance, currency, status, customer_id, number FROM o2c_invoice "
        "WHERE tenant_id = %s AND id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
        [tenant_id, pg_array(ids)],
    )
    return {r[0]: {"amount": r[1], "open": r[2], "currency": r[3], "status": r[4], "customer_id": r[5],
                   "number": r[6]} for r in cur.fetchall()}


class _Moved(Exception):
    """A row read without a lock changed before it could be written: post again under row locks."""


def _check(posting: Posting, payment: dict | None, invoices: dict[int, dict]) -> str:
    """Why this posting cannot go in as things stand ('' when it can). Balances are not touched here."""
    if payment is None:
        return "payment not found"
    if not posting.lines:
        return "nothing to apply"
    currency = payment["currency"]
    cash = sum((line.applied for line in posting.lines), ZERO)
    if cash > payment["unapplied"]:
        return f"payment has {quantize(payment['unapplied'], currency)} unapplied, {_asked(cash, currency)} asked"
    seen = set()
    for line in posting.lines:
        inv = invoices.get(line.invoice_id)
        if inv is None:
            return f"invoice {line.invoice_id} not found"
        if line.invoice_id in seen:
            return f"invoice {inv['number']} appears twice"
        seen.add(line.invoice_id)
        if min(line.applied, line.discount, line.deduction, line.write_off) < 0 or line.settled <= 0:
            return f"amounts for invoice {inv['number']} must be positive"
        if inv["status"] == InvoiceStatus.VOID:
            return f"invoice {inv['number']} is void"
        if inv["currency"] != payment["currency"]:
            return f"invoice {inv['number']} is in {inv['currency']}, the payment in {payment['currency']}"
        if line.settled > inv["open"]:
            return (f"invoice {inv['number']} has {quantize(inv['open'], currency)} open, "
                    f"{_asked(line.settled, currency)} asked")
        if line.deduction > 0 and not line.deduction_reason:
            return f"deduction on invoice {inv['number']} needs a reason"
    return ""


def _asked(amount: Decimal, currency: str) -> str:
    """An asked amount as the clerk typed it, or as a suggestion stored it ("150.0000" shown "150.00")."""
    return money_in_text(str(amount), currency)


def _copy_temp(cur, name: str, columns_sql: str, rows: list[tuple]) -> None:
    cur.execute(f"CREATE TEMPORARY TABLE {name} ({columns_sql}) ON COMMIT DROP")
    with cur.copy(f"COPY {name} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    # Not analysed: these tables are only read whole by INSERT ... SELECT, never joined to a big table
    # (balances go through unnest() for that reason), so statistics would buy no better plan.


def _next_ids(cur, table: str, n: int) -> list[int]:
    cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n])
    return [r[0] for r in cur.fetchall()]


def post(postings: list[Posting], *, run_id: int | None = None, actor_id: int | None = None,
         partial: bool = False) -> PostingResult:
    """Post the postings in the current tenant's transaction.

    `partial=False` (a clerk's action): any refusal raises PostingRefused and nothing is written.
    `partial=True` (a matching run): refused postings are returned for the caller to turn into suggestions
    and the rest are written.
    """
    if not postings:
        return PostingResult([], [], {})
    # Optimistic first, for the common case where every posting fits: the payments are read without
    # locking and written only if they still hold what was read (compare-and-set under the UPDATE's own
    # row lock); the invoices are not read at all, but written by an UPDATE whose condition is the check
    # (not void, same currency, enough open), evaluated under its row lock. Each row is then written once
    # instead of locked, read and written. Anything else (a refusal, a row a clerk moved meanwhile) rolls
    # the attempt back, and the postings are checked again under row locks, refusals named.
    with transaction.atomic():
        try:
            with transaction.atomic():
                result = _post_optimistic(postings, run_id=run_id, actor_id=actor_id)
        except _Moved:
            result = _post_locked(postings, run_id=run_id, actor_id=actor_id, partial=partial)
        events.dispatch(result.events)
    return result


def _post_optimistic(postings: list[Posting], *, run_id, actor_id) -> PostingResult:
    tenant_id = current_tenant_id()
    result = PostingResult([], [], {})
    with bulk_cursor() as cur:
        payments = _lock_payments(cur, tenant_id, sorted({p.payment_id for p in postings}), lock=False)
        settle: dict[int, list] = {}  # invoice id -> [amount settled in this batch, currency it must be in]
        pairs: set[tuple[int, int]] = set()
        # Once per line of a run's chunk (thousands): each value read once, no objects made but the entries.
        for posting in postings:
            payment, lines = payments.get(posting.payment_id), posting.lines
            if payment is None or not lines:
                raise _Moved
            currency = payment["currency"]
            if len(lines) == 1:  # most payments pay one invoice
                cash = ZERO + lines[0].applied
            else:
                cash = sum((line.applied for line in lines), ZERO)
                if len({line.invoice_id for line in lines}) < len(lines):
                    raise _Moved
            if cash > payment["unapplied"]:
                raise _Moved
            for line in lines:
                applied, discount, deduction, write_off = line.applied, line.discount, line.deduction, line.write_off
                settled = applied + discount + deduction + write_off  # Line.settled
                if (applied < 0 or discount < 0 or deduction < 0 or write_off < 0 or settled <= 0
                        or (deduction > 0 and not line.deduction_reason)):
                    raise _Moved
                pair = (posting.payment_id, line.invoice_id)
                if pair in pairs:
                    raise _Moved
                pairs.add(pair)
                entry = settle.get(line.invoice_id)
                if entry is None:
                    entry = settle[line.invoice_id] = [ZERO, currency]
                elif entry[1] != currency:
                    raise _Moved
                entry[0] += settled
            payment["unapplied"] -= cash
            payment["touched"] = True
            if payment["customer_id"] is None:
                payment["customer_id"] = posting.customer_id
            result.posted.append(posting)
        _write_balances(cur, tenant_id, payments, {}, compare=True)
        invoices = _settle_invoices(cur, tenant_id, settle)
        result.events.extend(InvoiceSettled(i, v["customer_id"]) for i, v in invoices.items() if v["settled"])
        result.events.extend(_fully_applied(payments))
        payers = {p.payment_id: invoices[p.lines[0].invoice_id]["customer_id"] for p in result.posted
                  if payments[p.payment_id]["customer_id"] is None}
        if payers:
            # The payer was not named: the (first) invoice's customer, as the locked path decides.
            ids, customers = zip(*sorted(payers.items()), strict=True)
            cur.execute("UPDATE payments_payment p SET customer_id = b.customer_id "
                        "FROM unnest(%s::bigint[], %s::bigint[]) AS b(id, customer_id) "
                        "WHERE p.tenant_id = %s AND p.id = b.id", [pg_array(ids), pg_array(customers), tenant_id])
        _write(cur, tenant_id, result, invoices, run_id, actor_id)
    return result


# The invoice's status follows from its new balance by the one rule (o2c.ledger.status); a void invoice, one
# in another currency or one without enough open is left alone, which the caller sees as a row missing.
_SETTLE_TEMPLATE = (
    "UPDATE o2c_invoice i SET open_balance = i.open_balance - b.settled, updated_at = now(), status = {status} "
    "FROM unnest(%s::bigint[], %s::numeric[], %s::text[]) AS b(id, settled, currency) "
    "WHERE i.tenant_id = %s AND i.id = b.id AND i.status <> 'void' AND i.currency = b.currency "
    "AND i.open_balance >= b.settled RETURNING i.id, i.customer_id, i.currency, i.open_balance = 0"
)
_SETTLE_SQL = _SETTLE_TEMPLATE.format(status=invoice_status_sql("i.amount", "i.open_balance - b.settled"))


def _settle_invoices(cur, tenant_id: int, settle: dict[int, list]) -> dict[int, dict]:
    """Take each invoice's amount off its open balance where the invoice can take it; _Moved if one cannot."""
    ids = sorted(settle)
    cur.execute(
        _SETTLE_SQL,
        [pg_array(ids), pg_array(settle[i][0] for i in ids), pg_array(settle[i][1] for i in ids), tenant_id])
    invoices = {r[0]: {"customer_id": r[1], "currency": r[2], "settled": r[3]} for r in cur.fetchall()}
    if len(invoices) != len(ids):
        raise _Moved
    return invoices


def _post_locked(postings: list[Posting], *, run_id, actor_id, partial: bool) -> PostingResult:
    tenant_id = current_tenant_id()
    result = PostingResult([], [], {})
    with bulk_cursor() as cur:
        payments = _lock_payments(cur, tenant_id, sorted({p.payment_id for p in postings}))
        invoices = _lock_invoices(cur, tenant_id, sorted({line.invoice_id for p in postings for line in p.lines}))
        pairs: set[tuple[int, int]] = set()
        for posting in postings:
            payment = payments.get(posting.payment_id)
            posting.refused = _check(posting, payment, invoices)
            if not posting.refused and any((posting.payment_id, line.invoice_id) in pairs for line in posting.lines):
                posting.refused = "the same payment and invoice appear in two postings of one batch"
            if posting.refused:
                if not partial:
                    raise PostingRefused(f"cannot apply payment {posting.payment_id}: {posting.refused}")
                result.refused.append(posting)
                continue
            # Take the amounts off the read balances so later postings in this batch see them gone.
            payment["unapplied"] -= sum((line.applied for line in posting.lines), ZERO)
            payment["touched"] = True
            if payment["customer_id"] is None:
                payment["customer_id"] = posting.customer_id or invoices[posting.lines[0].invoice_id]["customer_id"]
            for line in posting.lines:
                invoices[line.invoice_id]["open"] -= line.settled
                invoices[line.invoice_id]["touched"] = True
            pairs.update((posting.payment_id, line.invoice_id) for line in posting.lines)
            result.posted.append(posting)
        if result.posted:
            _write_balances(cur, tenant_id, payments, invoices)
            result.events.extend(InvoiceSettled(i, v["customer_id"]) for i, v in invoices.items()
                                 if v.get("touched") and v["open"] == 0)
            result.events.extend(_fully_applied(payments))
            _write(cur, tenant_id, result, invoices, run_id, actor_id)
    return result


def _fully_applied(payments: dict[int, dict]) -> list[PaymentFullyApplied]:
    return [PaymentFullyApplied(i) for i, v in payments.items() if v.get("touched") and v["unapplied"] == 0]


def _write(cur, tenant_id, result, invoices, run_id, actor_id) -> None:
    """Insert the journal rows of the posted postings; each line with a deduction becomes a DeductionOpened
    event naming its new application (the deductions app inserts the deduction itself)."""
    app_rows = []
    for posting in result.posted:
        for line in posting.lines:
            app_rows.append((len(app_rows), posting.payment_id, line.invoice_id,
                             invoices[line.invoice_id]["customer_id"], line.applied, line.discount, line.deduction,
                             line.write_off, posting.source, posting.confidence, posting.explanation))
    _copy_temp(cur, "_application_in", "seq int, payment_id bigint, invoice_id bigint, customer_id bigint, "
               "applied numeric, discount numeric, deduction numeric, write_off numeric, source text, "
               "confidence numeric, explanation text", app_rows)
    cur.execute(
        "INSERT INTO cashapp_application (tenant_id, payment_id, invoice_id, customer_id, "
        "applied_amount, discount_amount, deduction_amount, write_off_amount, source, confidence, explanation, "
        "run_id, created_by_id, created_at) SELECT %s, payment_id, invoice_id, customer_id, applied, discount, "
        "deduction, write_off, source, confidence, explanation, %s::bigint, %s::bigint, now() "
        "FROM _application_in ORDER BY seq RETURNING payment_id, invoice_id, id",
        [tenant_id, run_id, actor_id],
    )
    # (payment, invoice) is unique within a batch (_post refuses a pair twice): it names the new row.
    written = {(payment_id, invoice_id): app_id for payment_id, invoice_id, app_id in sorted(cur.fetchall(),
                                                                                          key=itemgetter(2))}
    for (payment_id, _), app_id in written.items():
        result.application_ids.setdefault(payment_id, []).append(app_id)
    for posting in result.posted:
        for line in posting.lines:
            if line.deduction > 0:
                invoice = invoices[line.invoice_id]
                result.events.append(DeductionOpened(
                    written[posting.payment_id, line.invoice_id], posting.payment_id, line.invoice_id,
                    invoice["customer_id"], line.deduction, invoice["currency"], line.deduction_reason,
                    line.deduction_text[:300]))
    cur.execute("DROP TABLE _application_in")


def _write_balances(cur, tenant_id: int, payments: dict[int, dict], invoices: dict[int, dict],
                    compare: bool = False) -> None:
    """Write the new balances and statuses of the touched rows. With `compare`, a payment is written only if
    it still holds what was read (`was`); one that does not raises _Moved."""
    invoice_rows = [(i, v["open"], invoice_status(v["amount"], v["open"])) for i, v in invoices.items()
                    if v.get("touched")]
    payment_rows = [(i, v["unapplied"], payment_status(v["amount"], v["unapplied"]), v["customer_id"], *v["was"])
                    for i, v in payments.items() if v.get("touched")]
    # Statuses follow from the balances (o2c.ledger.status), written set-based here for thousands of rows
    # at once; the database's check constraints hold the same rules (paid means zero open).
    # Arrays through unnest() rather than a joined temporary table: the planner then walks the primary key
    # row by row (in id order, the locking order) instead of scanning the table to hash-join it.
    if payment_rows:
        ids, unapplied, statuses, customers, was_unapplied, was_customer = zip(*payment_rows, strict=True)
        cur.execute(
            "UPDATE payments_payment p SET unapplied_amount = b.unapplied, status = b.status, "
            "customer_id = b.customer_id "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::text[], %s::bigint[], %s::numeric[], %s::bigint[]) "
            "AS b(id, unapplied, status, customer_id, was_unapplied, was_customer) "
            "WHERE p.tenant_id = %s AND p.id = b.id AND (NOT %s "
            "OR (p.unapplied_amount = b.was_unapplied AND p.customer_id IS NOT DISTINCT FROM b.was_customer))",
            [pg_array(ids), pg_array(unapplied), pg_array(statuses), pg_array(customers), pg_array(was_unapplied),
             pg_array(was_customer), tenant_id, compare])
        if compare and cur.rowcount != len(ids):
            raise _Moved
    if invoice_rows:
        ids, balances, statuses = zip(*invoice_rows, strict=True)
        cur.execute(
            "UPDATE o2c_invoice i SET open_balance = b.open_balance, status = b.status, updated_at = now() "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::text[]) AS b(id, open_balance, status) "
            "WHERE i.tenant_id = %s AND i.id = b.id",
            [pg_array(ids), pg_array(balances), pg_array(statuses), tenant_id])


def reverse(application_ids: list[int], *, actor_id: int | None = None, reason: str = "") -> ReversalResult:
    """Reverse applications: insert their negations, restore balances, and tell the apps (the deductions the
    applications opened are cancelled by the deductions app, which refuses, rolling all of it back, when one
    is being worked). Refuses (nothing written) an application that is itself a reversal or was reversed
    already (PostingConflict)."""
    with transaction.atomic():
        result = _reverse(application_ids, actor_id=actor_id, reason=reason)
        events.dispatch(result.events)
    return result


def _reverse(application_ids: list[int], *, actor_id: int | None, reason: str) -> ReversalResult:
    tenant_id = current_tenant_id()
    with bulk_cursor() as cur:
        cur.execute(
            "SELECT id, payment_id, invoice_id, customer_id, applied_amount, discount_amount, deduction_amount, "
            "write_off_amount, reverses_id FROM cashapp_application WHERE tenant_id = %s AND id = ANY(%s::bigint[])",
            [tenant_id, application_ids])
        originals = {r[0]: r for r in cur.fetchall()}
        missing = set(application_ids) - set(originals)
        if missing:
            raise PostingRefused(f"application {min(missing)} not found")
        payments = _lock_payments(cur, tenant_id, sorted({r[1] for r in originals.values()}))
        invoices = _lock_invoices(cur, tenant_id, sorted({r[2] for r in originals.values()}))
        cur.execute("SELECT reverses_id FROM cashapp_application "
                    "WHERE tenant_id = %s AND reverses_id = ANY(%s::bigint[])",
                    [tenant_id, application_ids])
        already = {r[0] for r in cur.fetchall()}
        for app_id, r in originals.items():
            if r[8] is not None:
                raise PostingRefused(f"application {app_id} is a reversal; it cannot be reversed")
            if app_id in already:
                raise PostingConflict(f"application {app_id} was reversed already")
        settled_before = {i for i, v in invoices.items() if v["open"] == 0}
        ids = _next_ids(cur, "cashapp_application", len(originals))
        rows, result = [], ReversalResult(ids)
        for new_id, (app_id, r) in zip(ids, sorted(originals.items()), strict=True):
            _, payment_id, invoice_id, customer_id, applied, discount, deduction, write_off, _ = r
            payments[payment_id]["unapplied"] += applied
            payments[payment_id]["touched"] = True
            invoices[invoice_id]["open"] += applied + discount + deduction + write_off
            invoices[invoice_id]["touched"] = True
            rows.append((new_id, app_id, payment_id, invoice_id, customer_id, -applied, -discount, -deduction,
                         -write_off))
            if deduction > 0:
                result.events.append(DeductionCancelled(app_id))
        _copy_temp(cur, "_reversal_in", "id bigint, reverses_id bigint, payment_id bigint, invoice_id bigint, "
                   "customer_id bigint, applied numeric, discount numeric, deduction numeric, write_off numeric",
                   rows)
        cur.execute(
            "INSERT INTO cashapp_application (tenant_id, id, reverses_id, payment_id, invoice_id, customer_id, "  # noqa: S608 (a constant clause)
            "applied_amount, discount_amount, deduction_amount, write_off_amount, source, explanation, "
            "created_by_id, created_at) SELECT %s, id, reverses_id, payment_id, invoice_id, customer_id, applied, "
            "discount, deduction, write_off, 'manual', %s::text, %s::bigint, now() FROM _reversal_in"
            + returning_on_citus(),
            [tenant_id, f"reversal: {reason}" if reason else "reversal", actor_id])
        cur.execute("DROP TABLE _reversal_in")
        _write_balances(cur, tenant_id, payments, invoices)
    result.events.extend(InvoiceReopened(i, invoices[i]["customer_id"]) for i in sorted(settled_before)
                         if invoices[i]["open"] > 0)
    return result
