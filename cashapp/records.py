"""Load the matcher's input from the database in bulk: one query per kind of record, no ORM objects
(a tenant's million open invoices become plain records in a few seconds)."""

from __future__ import annotations

import gc
from collections import defaultdict
from decimal import Decimal

from django.db import connection

from o2c.bulk import bulk_cursor, pg_array
from o2c.ledger.status import INVOICE_OUTSTANDING
from o2c.tenancy import current_tenant_id

from .matching import Alias, CustomerRecord, MatchSettings, OpenInvoice, PaymentRecord, RemittanceRef
from .models import CashAppSettings

ZERO = Decimal(0)


def match_settings() -> MatchSettings:
    row = CashAppSettings.objects.first()
    if row is None:
        return MatchSettings()
    return MatchSettings(auto_apply_threshold=float(row.auto_apply_threshold),
                         write_off_tolerance=row.write_off_tolerance,
                         discount_grace_days=row.discount_grace_days)


def customer_records() -> list[CustomerRecord]:
    tenant_id = current_tenant_id()
    aliases, accounts = defaultdict(list), defaultdict(list)
    with connection.cursor() as cur:
        cur.execute("SELECT customer_id, alias, source, created_at::date FROM o2c_customeralias "
                    "WHERE tenant_id = %s ORDER BY id", [tenant_id])
        for customer_id, alias, source, created in cur.fetchall():
            aliases[customer_id].append(Alias(alias, source, created))
        cur.execute("SELECT customer_id, account_identifier FROM o2c_customerbankaccount WHERE tenant_id = %s "
                    "ORDER BY id", [tenant_id])
        for customer_id, account in cur.fetchall():
            accounts[customer_id].append(account)
        cur.execute("SELECT id, name, parent_id FROM o2c_customer WHERE tenant_id = %s ORDER BY id", [tenant_id])
        return [CustomerRecord(id=i, name=name, parent_id=parent, aliases=tuple(aliases[i]),
                               bank_accounts=tuple(accounts[i])) for i, name, parent in cur.fetchall()]


def open_invoice_records() -> list[OpenInvoice]:
    tenant_id = current_tenant_id()
    # A million records, none of them garbage: keep the cyclic collector from rescanning them as they grow.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _open_invoice_records(tenant_id)
    finally:
        if enabled:
            gc.enable()


# The set-up of every run reads the whole open ledger, so the query hands Python as little to convert as it can:
# no issue date (the matcher does not read it), NULL for an open balance equal to the amount and for a zero
# discount (most invoices), so that psycopg parses one Decimal per row, not three. 2.3 -> 1.2 s for a million
# invoices. Parameters: the tenant and INVOICE_OUTSTANDING. (bench/speed_floor.py times this same read.)
OPEN_LEDGER_SQL = (
    "SELECT id, customer_id, number, amount, nullif(open_balance, amount), currency, due_date, po_number, "
    "nullif(discount_percent, 0), discount_due_date FROM o2c_invoice WHERE tenant_id = %s "
    "AND status = ANY(%s) AND open_balance > 0 ORDER BY id")


def _open_invoice_records(tenant_id: int) -> list[OpenInvoice]:
    with connection.cursor() as cur:
        cur.execute(OPEN_LEDGER_SQL, [tenant_id, list(INVOICE_OUTSTANDING)])
        return [OpenInvoice(iid, customer, number, amount, amount if open_balance is None else open_balance,
                            currency, due, po, discount or ZERO, discount_due)
                for iid, customer, number, amount, open_balance, currency, due, po, discount, discount_due
                in cur.fetchall()]


def payment_records(payment_ids: list[int]) -> list[PaymentRecord]:
    """The payments as the matcher sees them: unapplied cash, payer, free text and structured remittance
    (its own lines plus those of advice linked to it)."""
    tenant_id = current_tenant_id()
    if not payment_ids:
        return []
    lines, texts = defaultdict(list), defaultdict(list)
    ids = pg_array(payment_ids)
    with bulk_cursor() as cur:
        # Two index lookups joined by UNION ALL: an OR across the outer join would scan every line.
        cur.execute(
            "SELECT * FROM ("
            " SELECT l.payment_id AS pid, l.reference, l.reference_type, l.amount_paid, l.gross_amount, l.discount,"
            " l.adjustment, l.adjustment_reason, l.text, 0 AS advice, l.position, l.id"
            " FROM payments_remittanceline l WHERE l.tenant_id = %s AND l.payment_id = ANY(%s::bigint[])"
            " UNION ALL"
            " SELECT a.payment_id, l.reference, l.reference_type, l.amount_paid, l.gross_amount, l.discount,"
            " l.adjustment, l.adjustment_reason, l.text, a.id, l.position, l.id"
            " FROM payments_remittanceadvice a JOIN payments_remittanceline l"
            " ON l.tenant_id = a.tenant_id AND l.advice_id = a.id"
            " WHERE a.tenant_id = %s AND a.payment_id = ANY(%s::bigint[])) x ORDER BY advice, position, id",
            [tenant_id, ids, tenant_id, ids])
        for pid, ref, ref_type, paid, gross, discount, adjustment, reason, text, *_ in cur.fetchall():
            lines[pid].append(RemittanceRef(ref, ref_type, paid, gross, discount, adjustment, reason))
            if text:
                texts[pid].append(text)
        cur.execute("SELECT payment_id, unstructured FROM payments_remittanceadvice WHERE tenant_id = %s "
                    "AND payment_id = ANY(%s::bigint[]) AND unstructured <> ''", [tenant_id, ids])
        for pid, text in cur.fetchall():
            texts[pid].append(text)
        cur.execute(
            "SELECT id, unapplied_amount, currency, coalesce(value_date, booking_date), payer_name, payer_account, "
            "remittance_text, end_to_end_id FROM payments_payment "
            "WHERE tenant_id = %s AND id = ANY(%s::bigint[]) ORDER BY id",
            [tenant_id, ids])
        records = []
        for pid, unapplied, currency, day, payer, account, text, e2e in cur.fetchall():
            free = " ".join(t for t in [text, *texts[pid]] if t)
            records.append(PaymentRecord(id=pid, amount=Decimal(unapplied), currency=currency, date=day,
                                         payer_name=payer, payer_account=account, text=free,
                                         lines=tuple(lines[pid]),
                                         end_to_end="" if e2e == "NOTPROVIDED" else e2e))
        return records
