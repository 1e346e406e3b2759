"""Import bank and remittance files: all or nothing, exactly once.

`bank_file_import` hashes the bytes first (the same file again returns the stored BankFile and creates
nothing), then writes everything in one transaction: statements, payments, remittance advice and lines. A
camt file is stored list by list while a reader thread walks the rest of it (Python on one core, Postgres on
the other); a refusal anywhere in the file rolls the transaction back, so a broken file still stores nothing.
Payments go in through COPY into a temporary table and INSERT ... ON CONFLICT DO NOTHING on the (tenant,
bank reference, account) unique key, so an entry already imported from another file is skipped and counted.
Only credits become payments; debits, reversals and zero amounts are counted and left out. What the parsers
produce is checked against the columns before any of it is deduplicated or stored (`payments.validation`):
nothing is cut or rounded to fit, a value that does not fit refuses the file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import NamedTuple

from django.db import connection, transaction
from psycopg.copy import Copy, Writer

from o2c.citus import returning_on_citus
from o2c.errors import ApplicationError
from o2c.readahead import ReadAhead
from o2c.runtime import interpreter_tuned_for_bulk_work
from o2c.services.audit import audit_event
from o2c.services.uploads import queued_upload_run, stored_file_name
from o2c.statistics import refresh_statistics_after_commit
from o2c.tenancy import current_tenant_id

from .models import BankFile, BankFileUpload, BankStatement
from .parsers import CREDIT, BankFileError, Statement, stream_bank_file
from .parsers.types import CHANNELS, Entry
from .parsers.types import RemittanceAdvice as ParsedAdvice
from .signals import bank_file_imported
from .validation import FileChecks

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class BankFileRefused(ApplicationError):
    """The file cannot be imported; the message names the line or element. Nothing was stored."""


def _clip(text: str | None, n: int) -> str:
    """Only for what is ours to shorten (the entry's locator); the bank's values are checked, not cut."""
    return (text or "")[:n]


def _noop(stage: str) -> None:
    pass


def bank_file_import(*, data: bytes, file_name: str, actor=None, csv_mapping=None,
                     progress: Progress | None = None, match: bool = True) -> BankFile:
    """Import one file in the current tenant scope. The returned BankFile has `duplicate` set: True when
    these exact bytes were imported before (then nothing new was created). `match=False` stores the file without
    the matching run that listeners start after an import (a back-fill matched later in one run)."""
    progress = progress or _noop
    file_name = stored_file_name(file_name)  # it also heads a refusal's message
    sha256 = hashlib.sha256(data).hexdigest()
    existing = BankFile.objects.filter(sha256=sha256).first()
    if existing is not None:
        existing.duplicate = True
        return existing
    progress("parsing")
    try:
        stream = stream_bank_file(data, file_name=file_name, csv_mapping=csv_mapping)
        checks = FileChecks(stream.format, data)
        checks.advices(stream.remittances)
    except BankFileError as exc:
        raise BankFileRefused(f"{file_name}: {exc}") from None
    # The collector off and a short GIL switch interval while the import lasts (o2c.runtime): the reader thread
    # allocates millions of objects that all survive, and the writer gives up the GIL at every send of COPY data.
    try:
        with interpreter_tuned_for_bulk_work():
            return _import(stream, checks, sha256, data, file_name, actor, progress, match)
    except BankFileError as exc:  # raised while reading the rest of a camt file: the transaction is rolled back
        raise BankFileRefused(f"{file_name}: {exc}") from None


def _import(stream, checks: FileChecks, sha256: str, data: bytes, file_name: str, actor,
            progress: Progress, match: bool = True) -> BankFile:
    with transaction.atomic():
        tenant_id = current_tenant_id()
        stored_rows = refresh_statistics_after_commit(
            ("payments_payment", "payments_remittanceadvice", "payments_remittanceline"))
        # One import per tenant at a time: two uploads of the same or overlapping files must not race
        # each other into counting the same entry as new.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('o2c.bank_file_import'), %s)", [tenant_id])
        existing = BankFile.objects.filter(sha256=sha256).first()
        if existing is not None:
            existing.duplicate = True
            return existing
        bank_file = BankFile.objects.create(
            file_name=file_name, size=len(data), sha256=sha256, format=stream.format,
            uploaded_by=actor if getattr(actor, "pk", None) else None,
        )
        progress("storing payments")
        with (_PaymentWriter(bank_file, checks) as writer,
              ReadAhead(stream, writer.prepare, name="bank-file-reader") as items):
            for item in items:
                if isinstance(item, Statement):
                    writer.statement(item)
                else:
                    writer.entries(item)
        warnings = list(stream.warnings) + writer.warnings
        progress("storing remittance advice")
        _store_advices(stream.remittances, bank_file)
        bank_file.remittances_linked = _link_advices(tenant_id, bank_file.pk)
        stored_rows(bank_file.payments_created + bank_file.remittances)
        bank_file.warnings = warnings
        bank_file.save()
        audit_event("bank_file.imported", bank_file, {
            "sha256": [None, sha256], "format": [None, stream.format],
            "payments_created": [None, bank_file.payments_created],
            "duplicates_skipped": [None, bank_file.duplicates_skipped],
            "remittances": [None, bank_file.remittances],
        }, actor=actor)
        # Cash application builds on payments, not the reverse: it listens (a matching run after the commit).
        bank_file_imported.send(sender=BankFile, bank_file=bank_file, match=match)
    log.info("bank file %s imported for tenant %s: %s payments, %s duplicates", bank_file.pk, tenant_id,
             bank_file.payments_created, bank_file.duplicates_skipped)
    bank_file.duplicate = False
    return bank_file


class _PaymentWriter:
    """Statements and payments of one file, written list by list inside the import's transaction: a refusal
    further on rolls back what was written.

    `prepare` (run in the reader thread) turns a list of entries into COPY text for a temporary table of
    payments and one of their remittance lines, so that all the Python work of a list is done while Postgres
    stores the previous one; `entries` (this thread) then only sends the text and runs one statement: INSERT ...
    ON CONFLICT DO NOTHING on the (tenant, bank reference, account) unique key, and the lines of the payments
    it created, joined to them by that key (a reference is unique within a file). On Citus the lines' INSERT
    carries a RETURNING clause as well (`returning_on_citus`), or the shards would be written by COPY, which
    row-level security refuses.

    The foreign keys of payments and their lines are checked as each list is inserted instead of all at
    commit (SET CONSTRAINTS ... IMMEDIATE): the same checks, but Postgres makes them while the next list is
    read instead of in one 1 s commit at the end."""

    _KEYS = ("payments_payment_bank_file_id_tfk", "payments_payment_statement_id_tfk",
             "payments_remittanceline_payment_id_tfk")

    def __init__(self, bank_file: BankFile, checks: FileChecks):
        self.bank_file = bank_file
        self.checks = checks
        self.warnings: list[str] = []
        self._statement: Statement | None = None  # the last one stored (this thread)
        self._read: Statement | None = None  # the last one prepared (reader thread)
        self._statement_id: int | None = None
        self._reversals = 0
        self._cur = None
        self._format_cur = None

    def __enter__(self):
        connection.ensure_connection()
        self._cur = connection.connection.cursor()  # psycopg's, on Django's connection and transaction
        # The reader thread formats COPY text with the adapters of this cursor of its own; it never executes.
        self._format_cur = connection.connection.cursor()
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        try:
            if exc_type is None and self._reversals:
                n = self._reversals
                self.warnings.append(f"{n} reversal entr{'y was' if n == 1 else 'ies were'} not imported as "
                                     "payments; reverse the original payment's applications by hand")
            if exc_type is None and self._prepared():
                self._cur.execute(f"SET CONSTRAINTS {', '.join(self._KEYS)} DEFERRED")
                self._cur.execute("DROP TABLE _payment_in, _payment_line_in")
        finally:
            self._cur.close()
            self._format_cur.close()

    def _prepared(self) -> bool:
        return getattr(self, "_tables", False)

    def _prepare(self) -> None:
        if self._prepared():
            return
        cur = self._cur
        # Postgres refuses COPY into a table under row-level security; a temporary table has none, and the
        # INSERT ... SELECT from it is checked row by row against the tenant policy (WITH CHECK).
        cur.execute(f"CREATE TEMPORARY TABLE _payment_in ON COMMIT DROP AS SELECT {_COPY_COLUMNS} "  # noqa: S608 - constant column names
                    "FROM payments_payment WITH NO DATA")
        cur.execute("CREATE TEMPORARY TABLE _payment_line_in ON COMMIT DROP AS SELECT "  # noqa: S608 - constant column names
                    f"{', '.join('l.' + c for c in _LINE_COLUMNS[:-2])}, p.bank_reference, p.account, 0 AS ord "
                    "FROM payments_remittanceline l, payments_payment p WITH NO DATA")
        cur.execute(f"SET CONSTRAINTS {', '.join(self._KEYS)} IMMEDIATE")
        self._tables = True

    def statement(self, s: Statement) -> None:
        """The statement's row, new or already stored from another file (its payments link to either)."""
        bank_file = self.bank_file
        account, statement_id = s.account, s.statement_id
        self._cur.execute(
            "INSERT INTO payments_bankstatement (tenant_id, bank_file_id, account, statement_id, currency, as_of, "
            "opening_balance, closing_balance, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (tenant_id, account, statement_id) DO NOTHING RETURNING id",
            [bank_file.tenant_id, bank_file.pk, account, statement_id, s.currency, s.as_of,
             s.opening_balance, s.closing_balance],
        )
        row = self._cur.fetchone()
        if row is not None:
            bank_file.statements += 1
            self._statement_id = row[0]
        else:
            self._statement_id = BankStatement.objects.values_list("pk", flat=True).get(
                account=account, statement_id=statement_id)
        self._statement = s

    def prepare(self, item: Statement | list[Entry]) -> Statement | _Prepared:
        """In the reader thread: a statement passes through; a list of its entries becomes COPY text. Only
        credits become payments: debits, reversals and zero amounts are counted. Both are checked first
        (`payments.validation`), so a refusal comes before the list is stored."""
        if isinstance(item, Statement):
            self.checks.statement(item)
            self._read = item
            return item
        self.checks.entries(item)
        account = self._read.account
        skipped = reversals = 0
        by_key: dict[str, Entry] = {}
        payments = _CopyText(self._format_cur)
        for entry in item:
            if entry.direction != CREDIT or entry.amount <= 0 or entry.reversal:
                skipped += 1
                reversals += entry.reversal
                continue
            row = _payment_row(entry, account)
            payments.write_row(row)
            by_key[row[0]] = entry
        lines = _CopyText(self._format_cur)
        ordinal = 0
        # A repeated key is one payment (ON CONFLICT); the last entry's lines are its lines, as before.
        for reference, entry in by_key.items():
            for position, line in enumerate(entry.remittance, start=1):
                ordinal += 1
                lines.write_row(_line_row(line, position) + (reference, account, ordinal))
        return _Prepared(payments.text(), lines.text(), payments.rows, skipped, reversals)

    def entries(self, prepared: _Prepared) -> None:
        bank_file = self.bank_file
        bank_file.debits_skipped += prepared.skipped
        self._reversals += prepared.reversals
        if not prepared.rows:
            return
        self._prepare()
        cur = self._cur
        cur.execute("TRUNCATE _payment_in, _payment_line_in")
        with cur.copy(f"COPY _payment_in ({_COPY_COLUMNS}) FROM STDIN") as copy:
            copy.write(prepared.payments)
        if prepared.lines:
            with cur.copy(f"COPY _payment_line_in ({_LINE_IN_COLUMNS}) FROM STDIN") as copy:
                copy.write(prepared.lines)
        # One statement: the payments, then the lines of those it created (in file order), one round trip.
        cur.execute(
            f"WITH created AS (INSERT INTO payments_payment (tenant_id, bank_file_id, statement_id, {_COPY_COLUMNS}, "  # noqa: S608 - constant column names
            f"unapplied_amount, status, created_at) SELECT %(tenant)s, %(file)s, %(statement)s, {_COPY_COLUMNS}, "
            "amount, 'unapplied', now() FROM _payment_in "
            "ON CONFLICT (tenant_id, bank_reference, account) DO NOTHING RETURNING id, bank_reference, account), "
            f"lines AS (INSERT INTO payments_remittanceline (tenant_id, {', '.join(_LINE_COLUMNS)}) "
            f"SELECT %(tenant)s, {', '.join('l.' + c for c in _LINE_COLUMNS[:-2])}, c.id, NULL "
            "FROM _payment_line_in l JOIN created c ON c.bank_reference = l.bank_reference AND c.account = l.account "
            f"ORDER BY l.ord{returning_on_citus()}) "
            "SELECT count(*) FROM created",
            {"tenant": bank_file.tenant_id, "file": bank_file.pk, "statement": self._statement_id},
        )
        created = cur.fetchone()[0]
        bank_file.payments_created += created
        bank_file.duplicates_skipped += prepared.rows - created


class _CopyText(Writer):
    """COPY text built in memory with psycopg's own formatting (escapes, NULLs, numbers, dates), to be sent
    later with one copy.write."""

    def __init__(self, cursor):
        self._parts: list = []
        self.rows = 0
        self._copy = Copy(cursor, binary=False, writer=self)

    def write(self, data) -> None:
        self._parts.append(data)

    def write_row(self, row: tuple) -> None:
        self._copy.write_row(row)
        self.rows += 1

    def text(self) -> bytes:
        self._copy.finish(None)
        return b"".join(self._parts)


class _Prepared(NamedTuple):
    payments: bytes  # COPY text of _payment_in
    lines: bytes  # COPY text of _payment_line_in
    rows: int
    skipped: int
    reversals: int


_PAYMENT_COLUMNS = ("bank_reference", "account", "amount", "currency", "value_date", "booking_date", "channel",
                    "bank_code", "payer_name", "payer_account", "end_to_end_id", "remittance_text", "raw",
                    "source_line")
_COPY_COLUMNS = ", ".join(_PAYMENT_COLUMNS)


def _payment_row(entry: Entry, account: str) -> tuple:
    return (
        entry.bank_reference, account, entry.amount, entry.currency, entry.value_date, entry.booking_date,
        entry.channel if entry.channel in CHANNELS else "other", entry.bank_code, entry.payer_name,
        entry.payer_account, entry.end_to_end_id, entry.unstructured, entry.raw, _clip(entry.source_line, 300),
    )


_LINE_COLUMNS = ("position", "reference", "reference_type", "amount_paid", "gross_amount", "discount", "adjustment",
                 "adjustment_reason", "text", "payment_id", "advice_id")


_LINE_IN_COLUMNS = ", ".join(_LINE_COLUMNS[:-2] + ("bank_reference", "account", "ord"))


def _line_row(item, position: int) -> tuple:
    return (position, item.reference, item.reference_type, item.amount_paid, item.gross_amount, item.discount,
            item.adjustment, item.adjustment_reason, item.text)


def _copy_lines(cur, tenant_id: int, lines: list[tuple]) -> None:
    if not lines:
        return
    # Postgres refuses COPY into a table under row-level security; a temporary table has none, and the
    # INSERT ... SELECT from it is checked row by row against the tenant policy.
    columns = ", ".join(_LINE_COLUMNS)
    cur.execute(f"CREATE TEMPORARY TABLE _line_in ON COMMIT DROP AS SELECT {columns} FROM payments_remittanceline "  # noqa: S608 - constant column names
                "WITH NO DATA")
    with cur.copy(f"COPY _line_in ({columns}) FROM STDIN") as copy:
        for line in lines:
            copy.write_row(line)
    cur.execute(f"INSERT INTO payments_remittanceline (tenant_id, {columns}) SELECT %s, {columns} FROM _line_in"  # noqa: S608 - constant column names
                + returning_on_citus(), [tenant_id])
    cur.execute("DROP TABLE _line_in")


def advice_fingerprint(advice: ParsedAdvice) -> str:
    """The same advice delivered in two files (re-sent, or inside a bigger file) is recognised by content."""
    parts = [advice.payment_reference, advice.payer_name, advice.payer_id, str(advice.payment_amount),
             advice.currency, str(advice.payment_date), advice.direction]
    parts += [f"{i.reference}|{i.amount_paid}|{i.gross_amount}|{i.discount}|{i.adjustment}" for i in advice.items]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _store_advices(remittances, bank_file: BankFile) -> None:
    if not remittances:
        return
    seen, lines = set(), []
    raw = connection.connection
    with raw.cursor() as cur:
        for advice in remittances:
            if advice.direction != CREDIT:
                bank_file.debits_skipped += 1
                continue
            fingerprint = advice_fingerprint(advice)
            if fingerprint in seen:
                bank_file.duplicates_skipped += 1
                continue
            seen.add(fingerprint)
            cur.execute(
                "INSERT INTO payments_remittanceadvice (tenant_id, bank_file_id, payment_reference, payer_name, "
                "payer_id, payee_name, amount, currency, payment_date, channel, unstructured, raw, source_line, "
                "fingerprint, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
                "ON CONFLICT (tenant_id, fingerprint) DO NOTHING RETURNING id",
                [bank_file.tenant_id, bank_file.pk, advice.payment_reference, advice.payer_name, advice.payer_id,
                 advice.payee_name, advice.payment_amount, advice.currency, advice.payment_date,
                 advice.channel if advice.channel in CHANNELS else "other", advice.unstructured, advice.raw,
                 _clip(advice.source_line, 300), fingerprint],
            )
            row = cur.fetchone()
            if row is None:
                bank_file.duplicates_skipped += 1
                continue
            bank_file.remittances += 1
            for position, item in enumerate(advice.items, start=1):
                lines.append(_line_row(item, position) + (None, row[0]))
        _copy_lines(cur, bank_file.tenant_id, lines)


def _link_advices(tenant_id: int, bank_file_id: int) -> int:
    """Link unlinked advices to their payment, whichever arrived in this file: same reference (the bank's
    or the end-to-end id) and, when the advice names one, the same amount. An advice with more than one
    such payment stays unlinked for a clerk to decide."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH candidates AS (
                SELECT a.id AS advice_id, min(p.id) AS payment_id, count(*) AS n
                FROM payments_remittanceadvice a
                JOIN payments_payment p ON p.tenant_id = a.tenant_id
                 AND (p.bank_reference = a.payment_reference
                      OR (a.payment_reference <> '' AND p.end_to_end_id = a.payment_reference))
                 AND (a.amount IS NULL OR a.amount = p.amount)
                WHERE a.tenant_id = %(tenant)s AND a.payment_id IS NULL
                  AND (a.bank_file_id = %(file)s OR p.bank_file_id = %(file)s)
                GROUP BY a.id
            )
            UPDATE payments_remittanceadvice a SET payment_id = c.payment_id
            FROM candidates c
            WHERE a.tenant_id = %(tenant)s AND a.id = c.advice_id AND c.n = 1
            """,
            {"tenant": tenant_id, "file": bank_file_id},
        )
        return cursor.rowcount


# --- uploads from the browser: the bytes wait in a row until the task imports them ------------------

@transaction.atomic
def bank_file_upload_create(*, data: bytes, file_name: str, actor=None, csv_mapping=None) -> BankFileUpload:
    return BankFileUpload.objects.create(file_name=stored_file_name(file_name), content=data, csv_mapping=csv_mapping,
                                         uploaded_by=actor if getattr(actor, "pk", None) else None)


def bank_file_upload_process(*, upload_id: int, progress: Progress | None = None) -> BankFileUpload:
    """Run the import of a queued upload and record its outcome (see `queued_upload_run`); re-running an
    interrupted one finds the file by its hash if it had committed."""

    def work(upload):
        bank_file = bank_file_import(data=bytes(upload.content), file_name=upload.file_name,
                                     actor=upload.uploaded_by, csv_mapping=upload.csv_mapping, progress=progress)
        return {"bank_file": bank_file, "duplicate": bank_file.duplicate}

    return queued_upload_run(BankFileUpload, upload_id=upload_id, work=work)
