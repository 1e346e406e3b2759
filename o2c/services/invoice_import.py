"""Import the ERP's open invoices from CSV: all or nothing, idempotent.

The whole file is parsed and checked before anything is written; a bad row is reported with its line
number and reason and nothing of that file is stored. Re-importing the same file changes nothing:
rows equal to what is stored are counted as unchanged and not written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction

from ..errors import ApplicationError
from ..models import Customer, Invoice, InvoiceImport
from ..models.ledger import InvoiceStatus
from ..money import parse_amount
from ..tenancy import current_origin, current_tenant_id
from .audit import audit_event, audit_events, diff, snapshot

REQUIRED_COLUMNS = (
    "invoice_number", "customer_id", "customer_name", "issue_date", "due_date", "amount", "currency",
    "po_number", "discount_percent", "discount_due_date",
)
INVOICE_FIELDS = ("customer_id", "issue_date", "due_date", "amount", "currency", "po_number",
                  "discount_percent", "discount_due_date")
MAX_ERRORS_REPORTED = 50
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BATCH = 5000


@dataclass
class InvoiceRow:
    line: int
    number: str
    customer_external_id: str
    customer_name: str
    issue_date: date
    due_date: date
    amount: Decimal
    currency: str
    po_number: str
    discount_percent: Decimal
    discount_due_date: date | None


class InvoiceFileError(ApplicationError):
    """The file was refused; `errors` lists every problem as 'line N: reason'."""

    def __init__(self, errors: list[str]):
        shown = errors[:MAX_ERRORS_REPORTED]
        more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
        super().__init__(
            f"nothing was imported: {len(errors)} problem{'s' if len(errors) != 1 else ''} in the file{more}",
            extra={"errors": shown},
        )
        self.errors = shown


def _date(value: str, column: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)")


_PLAIN_AMOUNT = re.compile(r"^\d{1,14}(\.\d{1,2})?$")
_ZERO = Decimal("0")


def _parse_row(line: int, v: list[str]) -> InvoiceRow:
    """v: the row's values in REQUIRED_COLUMNS order, stripped."""
    number, external_id, name, issue_s, due_s, amount_s, currency_s, po, discount_s, discount_due_s = v
    if not number:
        raise ValueError("invoice_number is empty")
    if len(number) > 64:
        raise ValueError("invoice_number is longer than 64 characters")
    if not external_id:
        raise ValueError("customer_id is empty")
    if len(external_id) > 64:
        raise ValueError("customer_id is longer than 64 characters")
    if not name:
        raise ValueError("customer_name is empty")
    currency = currency_s.upper()
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency {currency_s!r} is not a three-letter ISO code")
    issue, due = _date(issue_s, "issue_date"), _date(due_s, "due_date")
    if due < issue:
        raise ValueError(f"due_date {due} is before issue_date {issue}")
    if currency in ("USD", "EUR", "GBP") and _PLAIN_AMOUNT.match(amount_s):
        amount = Decimal(amount_s)  # the common case, already exact for a two-decimal currency
    else:
        try:
            amount = parse_amount(amount_s, currency)
        except ApplicationError as exc:
            raise ValueError(exc.message)
        if amount < 0:
            raise ValueError(f"amount {amount_s} is negative; credits are imported as credit memos")
    discount = _ZERO
    if discount_s:
        try:
            discount = Decimal(discount_s)
        except InvalidOperation:
            raise ValueError(f"discount_percent {discount_s!r} is not a number")
        if not (0 <= discount < 100) or discount != discount.quantize(Decimal("0.01")):
            raise ValueError(f"discount_percent {discount_s!r} must be between 0 and 100, 2 decimals")
    discount_due = _date(discount_due_s, "discount_due_date") if discount_due_s else None
    if discount and discount_due is None:
        raise ValueError("discount_percent is set but discount_due_date is empty")
    if discount_due and discount_due < issue:
        raise ValueError(f"discount_due_date {discount_due} is before issue_date {issue}")
    if len(po) > 64:
        raise ValueError("po_number is longer than 64 characters")
    return InvoiceRow(line, number, external_id, name[:200], issue, due, amount, currency, po, discount, discount_due)


def parse_invoice_csv(data: bytes) -> list[InvoiceRow]:
    """Every row, or InvoiceFileError naming every bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceFileError([f"byte {exc.start}: the file is not UTF-8 text"])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        raise InvoiceFileError([f"line 1: {exc}"])
    if not header:
        raise InvoiceFileError(["line 1: the file is empty; expected a header row"])
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvoiceFileError([f"line 1: header lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"])
    positions = [header.index(c) for c in REQUIRED_COLUMNS]
    width = len(header)
    rows, errors, seen = [], [], {}
    try:
        for values in reader:
            line = reader.line_num
            if len(values) > width:
                errors.append(f"line {line}: has more fields than the header")
                continue
            if not any(x.strip() for x in values):
                continue  # blank line
            values += [""] * (width - len(values))
            try:
                row = _parse_row(line, [values[i].strip() for i in positions])
            except ValueError as exc:
                errors.append(f"line {line}: {exc}")
                continue
            first = seen.get(row.number)
            if first is not None:
                errors.append(f"line {line}: invoice {row.number} appears again (first on line {first})")
                continue
            seen[row.number] = line
            rows.append(row)
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        raise InvoiceFileError(errors)
    if not rows:
        raise InvoiceFileError(["the file has a header but no invoice rows"])
    return rows


def _chunks(items, size=_BATCH):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def invoice_import_csv(*, data: bytes, file_name: str, actor=None) -> InvoiceImport:
    rows = parse_invoice_csv(data)
    with transaction.atomic():
        # One import per tenant at a time: two uploads of one file must not both insert.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('o2c.invoice_import'), %s)", [current_tenant_id()])
        batch = InvoiceImport.objects.create(
            file_name=file_name[:255], file_sha256=hashlib.sha256(data).hexdigest(), rows=len(rows),
            imported_by=actor if getattr(actor, "pk", None) else None,
        )
        customers = _upsert_customers(rows, batch, actor)
        _upsert_invoices(rows, customers, batch, actor)
        batch.save()
        audit_event("invoice_import.completed", batch, {
            "file_sha256": [None, batch.file_sha256], "created_invoices": [None, batch.created_invoices],
            "updated_invoices": [None, batch.updated_invoices], "created_customers": [None, batch.created_customers],
        }, actor=actor)
    return batch


def _upsert_customers(rows: list[InvoiceRow], batch: InvoiceImport, actor) -> dict[str, int]:
    names: dict[str, str] = {}
    for row in rows:
        names[row.customer_external_id] = row.customer_name  # the last row's name wins
    existing: dict[str, Customer] = {}
    for ids in _chunks(list(names)):
        existing.update({c.external_id: c for c in Customer.objects.filter(external_id__in=ids)})
    renamed = []
    for external_id, customer in existing.items():
        if customer.name != names[external_id]:
            renamed.append((customer, customer.name))
            customer.name = names[external_id]
    Customer.objects.bulk_update([c for c, _ in renamed], ["name"], batch_size=_BATCH)
    new_customers = [Customer(external_id=e, name=n) for e, n in names.items() if e not in existing]
    currency_of = {}
    for row in rows:
        currency_of.setdefault(row.customer_external_id, row.currency)
    for customer in new_customers:
        customer.currency = currency_of[customer.external_id]
    Customer.objects.bulk_create(new_customers, batch_size=_BATCH)
    batch.created_customers = len(new_customers)
    audit_events([("customer.updated", c, {"name": [old, c.name]}) for c, old in renamed]
                 + [("customer.created", c, {"external_id": [None, c.external_id], "name": [None, c.name]})
                    for c in new_customers], actor=actor)
    ids = {c.external_id: c.pk for c in existing.values()}
    ids.update({c.external_id: c.pk for c in new_customers})
    return ids


def _upsert_invoices(rows: list[InvoiceRow], customers: dict[str, int], batch: InvoiceImport, actor) -> None:
    """Set-based: the rows go to a temporary table by COPY (COPY into an RLS table is refused; the
    INSERT ... SELECT from it is checked against the tenant policy), new invoices and their audit events
    are inserted by two statements, and only rows that differ from what is stored come back to Python."""
    tenant_id = current_tenant_id()
    raw = connection.connection
    with raw.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE _invoice_in (line int, number text, customer_id bigint, issue_date date, "
                    "due_date date, amount numeric, currency text, po_number text, discount_percent numeric, "
                    "discount_due_date date) ON COMMIT DROP")
        with cur.copy("COPY _invoice_in FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.line, r.number, customers[r.customer_external_id], r.issue_date, r.due_date,
                                r.amount, r.currency, r.po_number, r.discount_percent, r.discount_due_date))
        cur.execute("CREATE INDEX ON _invoice_in (number)")
        cur.execute("ANALYZE _invoice_in")
        cur.execute(
            "SELECT n.number FROM _invoice_in n JOIN o2c_invoice i ON i.tenant_id = %s AND i.number = n.number "
            "WHERE (i.customer_id, i.issue_date, i.due_date, i.amount, i.currency, i.po_number, i.discount_percent, "
            "i.discount_due_date) IS DISTINCT FROM (n.customer_id, n.issue_date, n.due_date, n.amount, n.currency, "
            "n.po_number, n.discount_percent, n.discount_due_date)", [tenant_id])
        changed = {number for (number,) in cur.fetchall()}
        cur.execute("SELECT count(*) FROM _invoice_in n JOIN o2c_invoice i ON i.tenant_id = %s AND i.number = n.number",
                    [tenant_id])
        existing_count = cur.fetchone()[0]
        updated = _update_changed([r for r in rows if r.number in changed], customers, actor)
        origin = current_origin()
        cur.execute(
            """
            WITH ins AS (
                INSERT INTO o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, currency,
                                         open_balance, po_number, discount_percent, discount_due_date, status,
                                         created_at, updated_at)
                SELECT %(tenant)s, n.number, n.customer_id, n.issue_date, n.due_date, n.amount, n.currency, n.amount,
                       n.po_number, n.discount_percent, n.discount_due_date, 'open', now(), now()
                FROM _invoice_in n
                WHERE NOT EXISTS (SELECT 1 FROM o2c_invoice i WHERE i.tenant_id = %(tenant)s AND i.number = n.number)
                RETURNING id, number, customer_id, due_date, currency
            )
            INSERT INTO o2c_auditevent (tenant_id, created_at, actor_id, channel, ip, user_agent, action,
                                        object_type, object_id, object_repr, changes)
            SELECT %(tenant)s, now(), %(actor)s, %(channel)s, %(ip)s, %(agent)s, 'invoice.created', 'invoice', ins.id,
                   left(ins.number, 200),
                   jsonb_build_object('amount', jsonb_build_array(null, n.amount::text),
                                      'currency', jsonb_build_array(null, ins.currency),
                                      'customer_id', jsonb_build_array(null, ins.customer_id),
                                      'due_date', jsonb_build_array(null, ins.due_date::text),
                                      'invoice_import_id', jsonb_build_array(null, %(batch)s::bigint))
            FROM ins JOIN _invoice_in n ON n.number = ins.number
            """,
            {"tenant": tenant_id, "actor": getattr(actor, "pk", None) or origin.user_id, "channel": origin.channel,
             "ip": origin.ip, "agent": origin.user_agent[:300], "batch": batch.pk},
        )
        created = cur.rowcount
        cur.execute("DROP TABLE _invoice_in")
    batch.created_invoices = created
    batch.updated_invoices = updated
    batch.unchanged_invoices = existing_count - updated


def _update_changed(rows: list[InvoiceRow], customers: dict[str, int], actor) -> int:
    """Rows that differ from the stored invoice (few, usually): the rules and audit per row."""
    if not rows:
        return 0
    existing = {i.number: i for i in Invoice.objects.filter(number__in=[r.number for r in rows])}
    to_update, events, errors = [], [], []
    for row in rows:
        invoice = existing[row.number]
        values = {
            "customer_id": customers[row.customer_external_id], "issue_date": row.issue_date,
            "due_date": row.due_date, "amount": row.amount, "currency": row.currency, "po_number": row.po_number,
            "discount_percent": row.discount_percent, "discount_due_date": row.discount_due_date,
        }
        before = snapshot(invoice, INVOICE_FIELDS)
        for name, value in values.items():
            setattr(invoice, name, value)
        changes = diff(invoice, before, INVOICE_FIELDS)
        if not changes:
            continue
        money_moved = invoice.status != InvoiceStatus.OPEN or invoice.open_balance != before["amount"]
        if money_moved and ({"amount", "currency", "customer_id"} & changes.keys()):
            errors.append(f"line {row.line}: invoice {row.number} already has payments or credits applied; "
                          f"its {', '.join(sorted({'amount', 'currency', 'customer_id'} & changes.keys()))} "
                          "cannot change by import")
            continue
        if "amount" in changes:
            invoice.open_balance = invoice.amount
            changes["open_balance"] = [str(before["amount"]), str(invoice.amount)]
        to_update.append(invoice)
        events.append(("invoice.updated", invoice, changes))
    if errors:
        raise InvoiceFileError(errors)
    Invoice.objects.bulk_update(to_update, [*INVOICE_FIELDS, "open_balance"], batch_size=_BATCH)
    audit_events(events, actor=actor)
    return len(to_update)
