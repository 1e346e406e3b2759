"""Import the ERP's open invoices from CSV: all or nothing, idempotent.

Every line is checked and every bad line is reported with its number and reason; a file with any
bad line stores nothing (the whole import is one transaction). Re-importing the same file changes
nothing: rows equal to what is stored are counted as unchanged and not written.

A million-row file is parsed in a background thread while the database stores the chunk parsed
before it (psycopg releases the GIL while it waits for the server), so the two cores work at once.
Writing starts before the last line has been read; a bad line further down rolls it all back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter

from django.core.cache import cache
from django.db import connection, transaction

from ..citus import returning_on_citus
from ..errors import ApplicationError
from ..models import Customer, Invoice, InvoiceImport, InvoiceUpload
from ..models.ledger import InvoiceStatus
from ..money import is_currency, parse_amount
from ..readahead import ReadAhead
from ..signals import invoices_imported
from ..statistics import refresh_statistics_after_commit
from ..tenancy import current_origin, current_tenant_id
from .audit import audit_event, audit_events, diff, snapshot
from .uploads import queued_upload_run, stored_file_name

REQUIRED_COLUMNS = (
    "invoice_number", "customer_id", "customer_name", "issue_date", "due_date", "amount", "currency",
    "po_number", "discount_percent", "discount_due_date",
)
INVOICE_FIELDS = ("customer_id", "issue_date", "due_date", "amount", "currency", "po_number",
                  "discount_percent", "discount_due_date")
MAX_ERRORS_REPORTED = 50
CHUNK_ROWS = 50_000  # rows parsed, then stored, at a time; module-level so tests can make it small
# A name or key with a control character (NUL, which Postgres refuses, or any other) is refused, not cleaned.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CUSTOMER_NAME_MAX = Customer._meta.get_field("name").max_length
# Amounts that need no rounding decision: passed to Postgres as written, which parses them exactly.
_PLAIN_AMOUNT = re.compile(r"^\d{1,14}(\.\d{1,2})?$")
_PLAIN_CURRENCIES = frozenset({"USD", "EUR", "GBP"})
_HUNDREDTH = Decimal("0.01")
_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Columns of the staging tables, in the order the parser writes them (the customer's key is put in
# front by the writer, which alone knows it).
_STAGED = ("customer_id", "line", "number", "issue_date", "due_date", "amount", "currency", "po_number",
           "discount_percent", "discount_due_date")


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


# --- parsing ------------------------------------------------------------------------------------

@dataclass
class _Chunk:
    """Parsed rows as COPY text lines (without the customer's key), with what the writer needs."""

    numbers: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)  # external id, one per row
    lines: list[str] = field(default_factory=list)
    # Customers first seen in the file in this chunk: external id -> (name, currency) of that first row.
    new_customers: dict[str, tuple[str, str]] = field(default_factory=dict)

    def span(self) -> tuple[str, str]:
        """The lowest and highest invoice number, by code point (the order of varchar_pattern_ops)."""
        return min(self.numbers), max(self.numbers)


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_SPECIAL)
    return value


class _Parser:
    """Reads the CSV chunk by chunk, checking each row; collects every problem as 'line N: reason'.

    Dates, currencies and discounts repeat across a file, so each distinct text is checked once.
    """

    def __init__(self, text: str):
        self.reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip().lower() for h in next(self.reader, [])]
        except csv.Error as exc:
            raise InvoiceFileError([f"line 1: {exc}"])
        if not header:
            raise InvoiceFileError(["line 1: the file is empty; expected a header row"])
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise InvoiceFileError(
                [f"line 1: header lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"])
        self.pick = itemgetter(*[header.index(c) for c in REQUIRED_COLUMNS])
        self.width = len(header)
        self.errors: list[str] = []
        self.rows = 0
        self.first_line: dict[str, int] = {}  # invoice number -> line, to refuse repeats
        self.names: dict[str, str] = {}  # customer external id -> name on its last row
        self._dates: dict[str, tuple[date, str] | None] = {}
        self._currencies: dict[str, str | None] = {}
        self._discounts: dict[str, Decimal | str] = {}

    def chunks(self, size: int):
        chunk = _Chunk()
        reader, width, errors = self.reader, self.width, self.errors
        try:
            for values in reader:
                if len(values) != width:
                    if len(values) > width:
                        errors.append(f"line {reader.line_num}: has more fields than the header")
                        continue
                    values += [""] * (width - len(values))
                try:
                    self._row(reader.line_num, values, chunk)
                except ValueError as exc:
                    errors.append(f"line {reader.line_num}: {exc}")
                if len(chunk.lines) >= size:
                    yield chunk
                    chunk = _Chunk()
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: {exc}")
        if chunk.lines:
            yield chunk

    def _row(self, line: int, values: list[str], chunk: _Chunk) -> None:
        number, external_id, name, issue_s, due_s, amount_s, currency_s, po, discount_s, discount_due_s = map(
            str.strip, self.pick(values))
        if not number:
            if not any(x.strip() for x in values):
                return  # blank line
            raise ValueError("invoice_number is empty")
        if len(number) > 64:
            raise ValueError("invoice_number is longer than 64 characters")
        if not external_id:
            raise ValueError("customer_id is empty")
        if len(external_id) > 64:
            raise ValueError("customer_id is longer than 64 characters")
        if not name:
            raise ValueError("customer_name is empty")
        currency = self._currency(currency_s)
        issue, issue_iso = self._date(issue_s, "issue_date")
        due, due_iso = self._date(due_s, "due_date")
        if due < issue:
            raise ValueError(f"due_date {due} is before issue_date {issue}")
        if currency in _PLAIN_CURRENCIES and _PLAIN_AMOUNT.match(amount_s):
            amount = amount_s  # exact as written; Postgres parses it into numeric
        else:
            try:
                value = parse_amount(amount_s, currency)
            except ApplicationError as exc:
                raise ValueError(exc.message)
            if value < 0:
                raise ValueError(f"amount {amount_s} is negative; credits are imported as credit memos")
            amount = str(value)
        discount = self._discount(discount_s) if discount_s else "0"
        if discount_due_s:
            discount_due, discount_due_iso = self._date(discount_due_s, "discount_due_date")
        else:
            discount_due, discount_due_iso = None, "\\N"
        if discount != "0" and discount_due is None:
            raise ValueError("discount_percent is set but discount_due_date is empty")
        if discount_due and discount_due < issue:
            raise ValueError(f"discount_due_date {discount_due} is before issue_date {issue}")
        if len(po) > 64:
            raise ValueError("po_number is longer than 64 characters")
        if len(name) > CUSTOMER_NAME_MAX:
            raise ValueError(f"customer name is {len(name)} characters; at most {CUSTOMER_NAME_MAX}")
        if not (number.isprintable() and external_id.isprintable() and name.isprintable() and po.isprintable()):
            _refuse_control(invoice_number=number, customer_id=external_id, customer_name=name, po_number=po)
        first = self.first_line.setdefault(number, line)
        if first != line:
            raise ValueError(f"invoice {number} appears again (first on line {first})")
        self.rows += 1
        if external_id not in self.names:
            chunk.new_customers[external_id] = (name, currency)  # a new customer takes its first row's currency
        self.names[external_id] = name  # the last row's name wins
        chunk.numbers.append(number)
        chunk.customers.append(external_id)
        chunk.lines.append(f"{line}\t{_copy_text(number)}\t{issue_iso}\t{due_iso}\t{amount}\t{currency}\t"
                           f"{_copy_text(po)}\t{discount}\t{discount_due_iso}\n")

    def _date(self, value: str, column: str) -> tuple[date, str]:
        try:
            parsed = self._dates[value]
        except KeyError:
            try:
                day = date.fromisoformat(value)
                parsed = self._dates[value] = (day, day.isoformat())
            except ValueError:
                parsed = self._dates[value] = None
        if parsed is None:
            raise ValueError(f"{column} {value!r} is not a date (YYYY-MM-DD)")
        return parsed

    def _currency(self, value: str) -> str:
        try:
            currency = self._currencies[value]
        except KeyError:
            upper = value.upper()
            currency = self._currencies[value] = upper if is_currency(upper) else None
        if currency is None:
            raise ValueError(f"currency {value!r} is not an ISO 4217 currency code")
        return currency

    def _discount(self, value: str) -> str:
        checked = self._discounts.get(value)
        if checked is None:
            try:
                discount = Decimal(value)
            except InvalidOperation:
                checked = f"discount_percent {value!r} is not a number"
            else:
                if (not discount.is_finite() or not (0 <= discount < 100)
                        or discount != discount.quantize(_HUNDREDTH)):
                    checked = f"discount_percent {value!r} must be between 0 and 100, 2 decimals"
                else:
                    checked = Decimal(value)
            self._discounts[value] = checked
        if isinstance(checked, str):
            raise ValueError(checked)
        return "0" if not checked else str(checked)


def _refuse_control(**values: str) -> None:
    """Called when a value is not printable (which also covers a no-break space): refuses a control character."""
    for column, value in values.items():
        found = _CONTROL.search(value)
        if found:
            raise ValueError(f"{column} contains the control character U+{ord(found.group()):04X}")


# --- storing ------------------------------------------------------------------------------------

def invoice_import_csv(*, data: bytes, file_name: str, actor=None,
                       progress: Callable[[int], None] | None = None) -> InvoiceImport:
    """Import the file in the current tenant scope. `progress` is told the rows stored so far after each
    chunk (the background upload shows it; inside the transaction nobody else could see it)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvoiceFileError([f"byte {exc.start}: the file is not UTF-8 text"])
    parser = _Parser(text)
    with transaction.atomic():
        stored_rows = refresh_statistics_after_commit(("o2c_invoice", "o2c_customer"))
        # One import per tenant at a time: two uploads of one file must not both insert.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('o2c.invoice_import'), %s)", [current_tenant_id()])
        batch = InvoiceImport.objects.create(
            file_name=stored_file_name(file_name), file_sha256=hashlib.sha256(data).hexdigest(),
            # Whom the audit log would name: the invoices it creates take their provenance from this row.
            imported_by_id=getattr(actor, "pk", None) or current_origin().user_id,
        )
        with _Writer(batch, actor) as writer:
            with ReadAhead(parser.chunks(CHUNK_ROWS), name="invoice-import-parser") as chunks:
                stored = 0
                for chunk in chunks:
                    if not parser.errors:  # once a line is bad nothing will be kept; read on to report all
                        writer.write(chunk)
                        stored += len(chunk.numbers)
                        if progress is not None:
                            progress(stored)
            if parser.errors:
                raise InvoiceFileError(parser.errors)
            if not parser.rows:
                raise InvoiceFileError(["the file has a header but no invoice rows"])
            writer.finish(parser.names)
        stored_rows(batch.created_invoices + batch.updated_invoices + batch.created_customers)
        batch.rows = parser.rows
        batch.save()
        if writer.touched_customers:
            invoices_imported.send(sender=InvoiceImport, batch=batch,
                                   customer_ids=frozenset(writer.touched_customers))
        # The one event for the invoices the file created (each carries the batch); changed invoices and
        # customers have their own events, written above.
        audit_event("invoice_import.completed", batch, {
            "file_name": [None, batch.file_name], "file_sha256": [None, batch.file_sha256], "rows": [None, batch.rows],
            "created_invoices": [None, batch.created_invoices], "updated_invoices": [None, batch.updated_invoices],
            "unchanged_invoices": [None, batch.unchanged_invoices],
            "created_customers": [None, batch.created_customers],
        }, actor=actor)
    return batch


class _Writer:
    """Stores parsed chunks inside the import's transaction.

    Rows go to temporary tables by COPY (COPY into a table under row-level security is refused; the
    INSERT ... SELECT from the staging table is checked against the tenant policy; on Citus it carries a
    RETURNING clause so that the shards are written by INSERT, not COPY: `returning_on_citus`). A new invoice carries
    its batch (`import_batch`) as its provenance and has no audit event of its own: the batch's one event
    says who imported which file when, and the invoice's history tells its creation from there. Rows whose
    invoice exists wait in a second table and are compared with what is stored once, at the end; only those
    that differ come back to Python, and each change is audited per invoice with before and after.
    """

    def __init__(self, batch: InvoiceImport, actor):
        self.batch, self.actor = batch, actor
        self.tenant_id = current_tenant_id()
        self.customer_ids: dict[str, int] = {}
        self.existing_customers: dict[str, Customer] = {}
        self.created_customers: list[Customer] = []
        self.created = 0
        self.staged_existing = 0
        self.touched_customers: set[int] = set()  # whose invoices the file created or changed
        self.cursor = connection.connection.cursor()
        columns = ("customer_id bigint, line int, number text, issue_date date, due_date date, amount numeric, "
                   "currency text, po_number text, discount_percent numeric, discount_due_date date")
        self.cursor.execute(f"CREATE TEMPORARY TABLE _invoice_new ({columns}) ON COMMIT DROP")
        self.cursor.execute(f"CREATE TEMPORARY TABLE _invoice_old ({columns}) ON COMMIT DROP")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cursor.close()

    def write(self, chunk: _Chunk) -> None:
        self._add_customers(chunk.new_customers)
        cur = self.cursor
        # ERP invoice numbers mostly run on from the last import: when no stored number falls between this
        # chunk's lowest and highest (one probe of the prefix index, whose order is by code point), every
        # row is new and none needs looking up one by one.
        cur.execute("SELECT 1 FROM o2c_invoice WHERE tenant_id = %s AND number ~>=~ %s AND number ~<=~ %s LIMIT 1",
                    [self.tenant_id, *chunk.span()])
        existing = set()
        if cur.fetchone():
            # The same ERP file again (the daily full export) stores the chunk's numbers densely in that span:
            # one walk along the index reads them in order, where 50,000 probes jump about it. A span that
            # holds far more numbers than the chunk (other series interleaved) is probed number by number.
            limit = 2 * len(chunk.numbers)
            cur.execute("SELECT number FROM o2c_invoice WHERE tenant_id = %s AND number ~>=~ %s AND number ~<=~ %s "
                        "LIMIT %s", [self.tenant_id, *chunk.span(), limit + 1])
            stored = cur.fetchall()
            if len(stored) <= limit:
                wanted = set(chunk.numbers)
                existing = {number for (number,) in stored if number in wanted}
            else:
                cur.execute("SELECT number FROM o2c_invoice WHERE tenant_id = %s AND number = ANY(%s::text[])",
                            [self.tenant_id, chunk.numbers])
                existing = {number for (number,) in cur.fetchall()}
        ids = self.customer_ids
        rows = zip(chunk.numbers, chunk.customers, chunk.lines, strict=True)
        if existing:
            new, old = [], []
            for number, c, line in rows:
                (old if number in existing else new).append(f"{ids[c]}\t{line}")
                if number not in existing:
                    self.touched_customers.add(ids[c])
            self._copy("_invoice_old", old)
            self.staged_existing += len(old)
        else:
            new = [f"{ids[c]}\t{line}" for _, c, line in rows]
            self.touched_customers.update(ids[c] for c in set(chunk.customers))
        if new:
            self._copy("_invoice_new", new)
            self._insert_new()
            self.created += len(new)

    def _copy(self, table: str, lines: list[str]) -> None:
        with self.cursor.copy(f"COPY {table} ({', '.join(_STAGED)}) FROM STDIN") as copy:
            copy.write("".join(lines))

    def _insert_new(self) -> None:
        cur = self.cursor
        cur.execute(
            """
            INSERT INTO o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, currency,
                                     open_balance, po_number, discount_percent, discount_due_date, status,
                                     import_batch_id, created_at, updated_at)
            SELECT %(tenant)s, n.number, n.customer_id, n.issue_date, n.due_date, n.amount, n.currency,
                   n.amount, n.po_number, n.discount_percent, n.discount_due_date, %(status)s, %(batch)s, now(), now()
            FROM _invoice_new n
            """ + returning_on_citus(),  # noqa: S608 - a constant clause (see o2c.citus)
            {"tenant": self.tenant_id, "status": InvoiceStatus.OPEN.value, "batch": self.batch.pk},
        )
        cur.execute("TRUNCATE _invoice_new")

    def _add_customers(self, first_seen: dict[str, tuple[str, str]]) -> None:
        """Customers first seen in this chunk: look them up, create those the ledger lacks. Their names
        are settled in `finish`, when the file's last row for each is known."""
        if not first_seen:
            return
        found = {c.external_id: c for c in Customer.objects.filter(external_id__in=list(first_seen))}
        self.existing_customers.update(found)
        new = [Customer(external_id=e, name=name, currency=currency)
               for e, (name, currency) in first_seen.items() if e not in found]
        Customer.objects.bulk_create(new)
        self.created_customers.extend(new)
        self.customer_ids.update({c.external_id: c.pk for c in (*found.values(), *new)})

    def finish(self, names: dict[str, str]) -> None:
        renamed_new = []  # renamed further down the file than its first row: no event, it is still new
        for customer in self.created_customers:
            if customer.name != names[customer.external_id]:
                customer.name = names[customer.external_id]
                renamed_new.append(customer)
        renamed = []
        for external_id, customer in self.existing_customers.items():
            if customer.name != names[external_id]:
                renamed.append((customer, customer.name))
                customer.name = names[external_id]
        Customer.objects.bulk_update([*renamed_new, *(c for c, _ in renamed)], ["name"], batch_size=5000)
        audit_events([("customer.updated", c, {"name": [old, c.name]}) for c, old in renamed]
                     + [("customer.created", c, {"external_id": [None, c.external_id], "name": [None, c.name]})
                        for c in self.created_customers], actor=self.actor)
        updated = _update_changed(self._changed_rows(), self.actor) if self.staged_existing else []
        for invoice, customer_before in updated:
            self.touched_customers.update((invoice.customer_id, customer_before))
        self.cursor.execute("DROP TABLE _invoice_new, _invoice_old")
        self.batch.created_customers = len(self.created_customers)
        self.batch.created_invoices = self.created
        self.batch.updated_invoices = len(updated)
        self.batch.unchanged_invoices = self.staged_existing - len(updated)

    def _changed_rows(self) -> list[tuple]:
        self.cursor.execute(
            """
            SELECT n.customer_id, n.line, n.number, n.issue_date, n.due_date, n.amount, n.currency, n.po_number,
                   n.discount_percent, n.discount_due_date
            FROM _invoice_old n
            JOIN o2c_invoice i ON i.tenant_id = %s AND i.number = n.number
            WHERE (i.customer_id, i.issue_date, i.due_date, i.amount, i.currency, i.po_number, i.discount_percent,
                   i.discount_due_date)
                  IS DISTINCT FROM (n.customer_id, n.issue_date, n.due_date, n.amount, n.currency, n.po_number,
                                    n.discount_percent, n.discount_due_date)
            ORDER BY n.line
            """,
            [self.tenant_id],
        )
        return self.cursor.fetchall()


def _update_changed(rows: list[tuple], actor) -> list[tuple[Invoice, int]]:
    """Rows that differ from the stored invoice (few, usually): the rules and audit per row. Returns the invoices
    changed, each with its customer before the change."""
    if not rows:
        return []
    rows = [dict(zip(_STAGED, row, strict=True)) for row in rows]
    existing = {i.number: i for i in Invoice.objects.filter(number__in=[r["number"] for r in rows])}
    to_update, events, errors = [], [], []
    for row in rows:
        invoice = existing[row["number"]]
        before = snapshot(invoice, INVOICE_FIELDS)
        for name in INVOICE_FIELDS:
            setattr(invoice, name, row[name])
        changes = diff(invoice, before, INVOICE_FIELDS)
        if not changes:
            continue
        money_moved = invoice.status != InvoiceStatus.OPEN or invoice.open_balance != before["amount"]
        if money_moved and ({"amount", "currency", "customer_id"} & changes.keys()):
            errors.append(f"line {row['line']}: invoice {row['number']} already has payments or credits applied; "
                          f"its {', '.join(sorted({'amount', 'currency', 'customer_id'} & changes.keys()))} "
                          "cannot change by import")
            continue
        if "amount" in changes:
            invoice.open_balance = invoice.amount
            changes["open_balance"] = [str(before["amount"]), str(invoice.amount)]
        to_update.append((invoice, before["customer_id"]))
        events.append(("invoice.updated", invoice, changes))
    if errors:
        raise InvoiceFileError(errors)
    Invoice.objects.bulk_update([i for i, _ in to_update], [*INVOICE_FIELDS, "open_balance"], batch_size=5000)
    audit_events(events, actor=actor)
    return to_update


# --- uploads from the browser too big to import within a request --------------------------------

@transaction.atomic
def invoice_upload_create(*, data: bytes, file_name: str, actor=None) -> InvoiceUpload:
    # Lines less the header: what the progress bar counts towards (a quoted line break would make it an
    # overestimate; the bar then ends short of full, which the finished page replaces anyway).
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return InvoiceUpload.objects.create(file_name=stored_file_name(file_name), content=data,
                                        rows_expected=max(lines - 1, 0),
                                        uploaded_by=actor if getattr(actor, "pk", None) else None)


def invoice_upload_progress_key(upload: InvoiceUpload) -> str:
    return _progress_key(upload.tenant_id, upload.pk)


def _progress_key(tenant_id: int, upload_id: int) -> str:
    return f"o2c:invoice-upload:{tenant_id}:{upload_id}:rows"


def invoice_upload_rows_stored(upload: InvoiceUpload) -> int:
    return cache.get(invoice_upload_progress_key(upload)) or 0


def invoice_upload_process(*, upload_id: int) -> InvoiceUpload:
    """Run the import of a queued upload and record its outcome (see `queued_upload_run`); a worker killed
    mid-import rolled the import back, so running the task again starts afresh."""
    key = _progress_key(current_tenant_id(), upload_id)

    def work(upload):
        return {"invoice_import": invoice_import_csv(
            data=bytes(upload.content), file_name=upload.file_name, actor=upload.uploaded_by,
            progress=lambda rows: cache.set(key, rows, timeout=6 * 3600))}

    try:
        return queued_upload_run(InvoiceUpload, upload_id=upload_id, work=work)
    finally:
        cache.delete(key)
