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
from ..tenancy import current_tenant_id
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


def _parse_row(line: int, raw: dict) -> InvoiceRow:
    get = lambda name: (raw.get(name) or "").strip()  # noqa: E731
    number, external_id, name = get("invoice_number"), get("customer_id"), get("customer_name")
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
    currency = get("currency").upper()
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency {get('currency')!r} is not a three-letter ISO code")
    issue, due = _date(get("issue_date"), "issue_date"), _date(get("due_date"), "due_date")
    if due < issue:
        raise ValueError(f"due_date {due} is before issue_date {issue}")
    try:
        amount = parse_amount(get("amount"), currency)
    except ApplicationError as exc:
        raise ValueError(exc.message)
    if amount < 0:
        raise ValueError(f"amount {get('amount')} is negative; credits are imported as credit memos")
    discount = Decimal("0")
    if get("discount_percent"):
        try:
            discount = Decimal(get("discount_percent"))
        except InvalidOperation:
            raise ValueError(f"discount_percent {get('discount_percent')!r} is not a number")
        if not (0 <= discount < 100) or discount != discount.quantize(Decimal("0.01")):
            raise ValueError(f"discount_percent {get('discount_percent')!r} must be between 0 and 100, 2 decimals")
    discount_due = _date(get("discount_due_date"), "discount_due_date") if get("discount_due_date") else None
    if discount and discount_due is None:
        raise ValueError("discount_percent is set but discount_due_date is empty")
    if discount_due and discount_due < issue:
        raise ValueError(f"discount_due_date {discount_due} is before issue_date {issue}")
    if len(get("po_number")) > 64:
        raise ValueError("po_number is longer than 64 characters")
    return InvoiceRow(line, number, external_id, name[:200], issue, due, amount, currency, get("po_number"),
                      discount, discount_due)


def parse_invoice_csv(data: bytes) -> list[InvoiceRow]:
    """Every row, or InvoiceFileError naming every bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceFileError([f"byte {exc.start}: the file is not UTF-8 text"])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise InvoiceFileError(["line 1: the file is empty; expected a header row"])
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvoiceFileError([f"line 1: header lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"])
    reader.fieldnames = header
    rows, errors, seen = [], [], {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(f"line {line}: has more fields than the header")
                continue
            if all(not (v or "").strip() for v in raw.values()):
                continue  # blank line
            try:
                row = _parse_row(line, raw)
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
    existing: dict[str, Invoice] = {}
    for numbers in _chunks([r.number for r in rows]):
        existing.update({i.number: i for i in Invoice.objects.filter(number__in=numbers)})
    to_create, to_update, events, errors = [], [], [], []
    for row in rows:
        values = {
            "customer_id": customers[row.customer_external_id], "issue_date": row.issue_date,
            "due_date": row.due_date, "amount": row.amount, "currency": row.currency, "po_number": row.po_number,
            "discount_percent": row.discount_percent, "discount_due_date": row.discount_due_date,
        }
        invoice = existing.get(row.number)
        if invoice is None:
            to_create.append(Invoice(number=row.number, open_balance=row.amount, **values))
            continue
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
    Invoice.objects.bulk_create(to_create, batch_size=_BATCH)
    Invoice.objects.bulk_update(to_update, [*INVOICE_FIELDS, "open_balance"], batch_size=_BATCH)
    # A new invoice is money owed: it gets its own event, as an edit does, so its trail starts here.
    created = [("invoice.created", invoice, {
        "amount": [None, invoice.amount], "currency": [None, invoice.currency],
        "customer_id": [None, invoice.customer_id], "due_date": [None, invoice.due_date],
        "invoice_import_id": [None, batch.pk],
    }) for invoice in to_create]
    audit_events([*created, *events], actor=actor)
    batch.created_invoices = len(to_create)
    batch.updated_invoices = len(to_update)
    batch.unchanged_invoices = len(rows) - len(to_create) - len(to_update)
