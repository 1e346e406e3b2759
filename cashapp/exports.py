"""The cash-application export: one row per (payment, invoice) application and one per unapplied remainder.

Columns (a contract with ERPs and the acceptance tests, keep exactly):
payment_reference,invoice_number,applied_amount,deduction_amount,status
- applied rows net of reversals (a fully reversed application disappears);
- suggested rows: the top pending suggestion of a payment still waiting for a clerk, only while it still fits
  the ledger: the payment still has the cash it spends and each invoice still has open what it settles
  (`cashapp.standing`; judged whole, as posting would). A suggestion overtaken by a posting is not exported;
- unapplied rows: the payment's unapplied amount less what is suggested, never negative.
A payment's applied, suggested and unapplied rows sum to its amount.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from django.db import connection

from o2c.money import quantize
from o2c.spreadsheets import write_csv
from o2c.tenancy import current_tenant_id

from .standing import invoice_open_balances, lines_of_allocations, suggestion_fits

HEADER = ["payment_reference", "invoice_number", "applied_amount", "deduction_amount", "status"]


def cash_application_rows():
    tenant_id = current_tenant_id()
    rows = defaultdict(list)  # payment id -> rows, so a payment's rows stay together
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.id, p.bank_reference, p.currency, i.number, sum(a.applied_amount), sum(a.deduction_amount) "
            "FROM cashapp_application a "
            "JOIN payments_payment p ON p.tenant_id = a.tenant_id AND p.id = a.payment_id "
            "JOIN o2c_invoice i ON i.tenant_id = a.tenant_id AND i.id = a.invoice_id "
            "WHERE a.tenant_id = %s GROUP BY p.id, p.bank_reference, p.currency, i.id, i.number "
            "HAVING sum(a.applied_amount + a.discount_amount + a.deduction_amount + a.write_off_amount) <> 0 "
            "ORDER BY p.id, min(a.id)", [tenant_id])
        for pid, ref, currency, number, applied, deduction in cur.fetchall():
            rows[pid].append([ref, number, quantize(applied, currency), quantize(deduction, currency), "applied"])
        waiting = _waiting_payments(cur, tenant_id)
        open_balances = invoice_open_balances(cur, tenant_id, (int(a["invoice_id"]) for *_, allocations in waiting
                                                               for a in allocations))
    for pid, ref, currency, unapplied, allocations in waiting:
        if not suggestion_fits(lines_of_allocations(allocations), unapplied, open_balances):
            allocations = []  # overtaken: the cash or the invoices went elsewhere since it was suggested
        rows[pid] += _suggested_and_unapplied_rows(ref, currency, unapplied, allocations)
    for pid in sorted(rows):
        yield from rows[pid]


def _waiting_payments(cur, tenant_id: int) -> list[tuple]:
    """(payment id, reference, currency, unapplied, top pending suggestion's allocations or []) of every
    payment with cash unapplied."""
    cur.execute(
        "SELECT p.id, p.bank_reference, p.currency, p.unapplied_amount, s.allocations "
        "FROM payments_payment p LEFT JOIN cashapp_suggestion s ON s.tenant_id = p.tenant_id "
        "AND s.payment_id = p.id AND s.status = 'pending' AND s.rank = 1 "
        "WHERE p.tenant_id = %s AND p.unapplied_amount > 0 ORDER BY p.id", [tenant_id])
    # Django's cursor hands jsonb back as text.
    return [(pid, ref, currency, unapplied,
             json.loads(allocations) if isinstance(allocations, str) else allocations or [])
            for pid, ref, currency, unapplied, allocations in cur.fetchall()]


def _suggested_and_unapplied_rows(ref: str, currency: str, unapplied: Decimal, allocations: list[dict]) -> list:
    rows, suggested = [], Decimal(0)
    for a in allocations:
        applied = Decimal(a["applied"])
        suggested += applied
        rows.append([ref, a["invoice_number"], quantize(applied, currency), quantize(Decimal(a["deduction"]), currency),
                     "suggested"])
    remainder = unapplied - suggested  # never negative: a suggestion that fits spends at most what is unapplied
    if remainder > 0:
        rows.append([ref, "", quantize(remainder, currency), quantize(Decimal(0), currency), "unapplied"])
    return rows


def cash_application_export(stream) -> int:
    """Amounts go out as Decimal (numbers); references and invoice numbers are escaped (o2c.spreadsheets)."""
    return write_csv(stream, HEADER, cash_application_rows(), lineterminator="\n")
