"""Import bank and remittance files: all or nothing, exactly once.

`bank_file_import` hashes the bytes first (the same file again returns the stored BankFile and creates
nothing), parses the whole file (a refusal stores nothing), then writes everything in one transaction:
statements, payments, remittance advice and lines. Payments go in through COPY into a temporary table
and one INSERT ... ON CONFLICT DO NOTHING on the (tenant, account, bank reference) unique key, so an
entry already imported from another file is skipped and counted, and 100k entries take about a second.
Only credits become payments; debits, reversals and zero amounts are counted and left out.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from django.db import connection, transaction

from o2c.errors import ApplicationError
from o2c.services.audit import audit_event
from o2c.services.uploads import queued_upload_run
from o2c.tenancy import current_tenant_id

from .models import BankFile, BankFileUpload, BankStatement
from .parsers import CREDIT, BankFileError, parse_bank_file
from .parsers.types import CHANNELS, Entry, ParsedFile
from .parsers.types import RemittanceAdvice as ParsedAdvice

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class BankFileRefused(ApplicationError):
    """The file cannot be imported; the message names the line or element. Nothing was stored."""


def _clip(text: str | None, n: int) -> str:
    return (text or "")[:n]


def _noop(stage: str) -> None:
    pass


def bank_file_import(*, data: bytes, file_name: str, actor=None, csv_mapping=None,
                     progress: Progress | None = None) -> BankFile:
    """Import one file in the current tenant scope. The returned BankFile has `duplicate` set: True when
    these exact bytes were imported before (then nothing new was created)."""
    progress = progress or _noop
    sha256 = hashlib.sha256(data).hexdigest()
    existing = BankFile.objects.filter(sha256=sha256).first()
    if existing is not None:
        existing.duplicate = True
        return existing
    progress("parsing")
    try:
        parsed = parse_bank_file(data, file_name=file_name, csv_mapping=csv_mapping)
    except BankFileError as exc:
        raise BankFileRefused(f"{file_name}: {exc}") from None
    with transaction.atomic():
        tenant_id = current_tenant_id()
        # One import per tenant at a time: two uploads of the same or overlapping files must not race
        # each other into counting the same entry as new.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('o2c.bank_file_import'), %s)", [tenant_id])
        existing = BankFile.objects.filter(sha256=sha256).first()
        if existing is not None:
            existing.duplicate = True
            return existing
        bank_file = BankFile.objects.create(
            file_name=_clip(file_name, 255), size=len(data), sha256=sha256, format=parsed.format,
            uploaded_by=actor if getattr(actor, "pk", None) else None,
        )
        warnings = list(parsed.warnings)
        progress("storing payments")
        statement_ids = _store_statements(parsed, bank_file)
        _store_payments(parsed, bank_file, statement_ids, warnings)
        progress("storing remittance advice")
        _store_advices(parsed, bank_file)
        bank_file.remittances_linked = _link_advices(tenant_id, bank_file.pk)
        bank_file.warnings = warnings
        bank_file.save()
        audit_event("bank_file.imported", bank_file, {
            "sha256": [None, sha256], "format": [None, parsed.format],
            "payments_created": [None, bank_file.payments_created],
            "duplicates_skipped": [None, bank_file.duplicates_skipped],
            "remittances": [None, bank_file.remittances],
        }, actor=actor)
        from cashapp.services import matching_after_import  # cashapp builds on payments, not the reverse

        matching_after_import(bank_file)
    log.info("bank file %s imported for tenant %s: %s payments, %s duplicates", bank_file.pk, tenant_id,
             bank_file.payments_created, bank_file.duplicates_skipped)
    bank_file.duplicate = False
    return bank_file


def _store_statements(parsed: ParsedFile, bank_file: BankFile) -> dict[tuple[str, str], int]:
    """The statement ids of the file, new or already stored from another file (payments link to either)."""
    ids = {}
    with connection.cursor() as cursor:
        for s in parsed.statements:
            account, statement_id = _clip(s.account, 70), _clip(s.statement_id, 140)
            cursor.execute(
                "INSERT INTO payments_bankstatement (tenant_id, bank_file_id, account, statement_id, currency, as_of, "
                "opening_balance, closing_balance, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) "
                "ON CONFLICT (tenant_id, account, statement_id) DO NOTHING RETURNING id",
                [bank_file.tenant_id, bank_file.pk, account, statement_id, _clip(s.currency, 3), s.as_of,
                 s.opening_balance, s.closing_balance],
            )
            row = cursor.fetchone()
            if row is not None:
                bank_file.statements += 1
                ids[(s.account, s.statement_id)] = row[0]
            else:
                ids[(s.account, s.statement_id)] = BankStatement.objects.values_list("pk", flat=True).get(
                    account=account, statement_id=statement_id)
    return ids


_PAYMENT_COLUMNS = ("bank_reference", "account", "amount", "currency", "value_date", "booking_date", "channel",
                    "bank_code", "payer_name", "payer_account", "end_to_end_id", "remittance_text", "raw",
                    "source_line", "statement_id")


def _payment_row(entry: Entry, account: str, statement_id: int | None) -> tuple:
    return (
        _clip(entry.bank_reference, 140), _clip(account, 70), entry.amount, entry.currency, entry.value_date,
        entry.booking_date, entry.channel if entry.channel in CHANNELS else "other", _clip(entry.bank_code, 40),
        _clip(entry.payer_name, 200), _clip(entry.payer_account, 70), _clip(entry.end_to_end_id, 140),
        entry.unstructured, entry.raw, _clip(entry.source_line, 300), statement_id,
    )


def _store_payments(parsed: ParsedFile, bank_file: BankFile, statement_ids: dict, warnings: list[str]) -> None:
    rows, entries = [], {}
    reversals = 0
    for s in parsed.statements:
        statement_id = statement_ids.get((s.account, s.statement_id))
        for entry in s.entries:
            if entry.direction != CREDIT or entry.amount <= 0 or entry.reversal:
                bank_file.debits_skipped += 1
                reversals += entry.reversal
                continue
            row = _payment_row(entry, s.account, statement_id)
            rows.append(row)
            entries[(row[1], row[0])] = entry
    if reversals:
        warnings.append(f"{reversals} reversal entr{'y was' if reversals == 1 else 'ies were'} not imported as "
                        "payments; reverse the original payment's applications by hand")
    if not rows:
        return
    columns = ", ".join(_PAYMENT_COLUMNS)
    raw = connection.connection  # the psycopg connection under Django's, inside the same transaction
    with raw.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE _payment_in ON COMMIT DROP AS SELECT {columns} FROM payments_payment "  # noqa: S608 - constant column names
                    "WITH NO DATA")
        with cur.copy(f"COPY _payment_in ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        # Row-level security checks each inserted row against the tenant scope (WITH CHECK).
        cur.execute(
            f"INSERT INTO payments_payment (tenant_id, bank_file_id, {columns}, unapplied_amount, status, created_at) "  # noqa: S608 - constant column names
            f"SELECT %s, %s, {columns}, amount, 'unapplied', now() FROM _payment_in "
            "ON CONFLICT (tenant_id, account, bank_reference) DO NOTHING RETURNING id, account, bank_reference",
            [bank_file.tenant_id, bank_file.pk],
        )
        created = cur.fetchall()
        cur.execute("DROP TABLE _payment_in")
        bank_file.payments_created = len(created)
        bank_file.duplicates_skipped = len(rows) - len(created)
        lines = []
        for payment_id, account, reference in created:
            for position, item in enumerate(entries[(account, reference)].remittance, start=1):
                lines.append(_line_row(item, position) + (payment_id, None))
        _copy_lines(cur, bank_file.tenant_id, lines)


_LINE_COLUMNS = ("position", "reference", "reference_type", "amount_paid", "gross_amount", "discount", "adjustment",
                 "adjustment_reason", "text", "payment_id", "advice_id")


def _line_row(item, position: int) -> tuple:
    return (position, _clip(item.reference, 140), _clip(item.reference_type, 30), item.amount_paid,
            item.gross_amount, item.discount, item.adjustment, _clip(item.adjustment_reason, 140), item.text)


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
    cur.execute(f"INSERT INTO payments_remittanceline (tenant_id, {columns}) SELECT %s, {columns} FROM _line_in",  # noqa: S608 - constant column names
                [tenant_id])
    cur.execute("DROP TABLE _line_in")


def advice_fingerprint(advice: ParsedAdvice) -> str:
    """The same advice delivered in two files (re-sent, or inside a bigger file) is recognised by content."""
    parts = [advice.payment_reference, advice.payer_name, advice.payer_id, str(advice.payment_amount),
             advice.currency, str(advice.payment_date), advice.direction]
    parts += [f"{i.reference}|{i.amount_paid}|{i.gross_amount}|{i.discount}|{i.adjustment}" for i in advice.items]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _store_advices(parsed: ParsedFile, bank_file: BankFile) -> None:
    if not parsed.remittances:
        return
    seen, lines = set(), []
    raw = connection.connection
    with raw.cursor() as cur:
        for advice in parsed.remittances:
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
                [bank_file.tenant_id, bank_file.pk, _clip(advice.payment_reference, 140),
                 _clip(advice.payer_name, 200), _clip(advice.payer_id, 80), _clip(advice.payee_name, 200),
                 advice.payment_amount, _clip(advice.currency, 3), advice.payment_date,
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

def bank_file_upload_create(*, data: bytes, file_name: str, actor=None, csv_mapping=None) -> BankFileUpload:
    return BankFileUpload.objects.create(file_name=_clip(file_name, 255), content=data, csv_mapping=csv_mapping,
                                         uploaded_by=actor if getattr(actor, "pk", None) else None)


def bank_file_upload_process(*, upload_id: int, progress: Progress | None = None) -> BankFileUpload:
    """Run the import of a queued upload and record its outcome (see `queued_upload_run`); re-running an
    interrupted one finds the file by its hash if it had committed."""

    def work(upload):
        bank_file = bank_file_import(data=bytes(upload.content), file_name=upload.file_name,
                                     actor=upload.uploaded_by, csv_mapping=upload.csv_mapping, progress=progress)
        return {"bank_file": bank_file, "duplicate": bank_file.duplicate}

    return queued_upload_run(BankFileUpload, upload_id=upload_id, work=work, refused=(BankFileRefused,))
