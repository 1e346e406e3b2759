"""The cash-application export: one row per (payment, invoice) application and one per unapplied remainder.

Columns (a contract with ERPs and the acceptance tests, keep exactly):
payment_reference,invoice_number,applied_amount,deduction_amount,status
- applied rows net of reversals (a fully reversed application disappears);
- suggested rows: the top pending suggestion of a payment still waiting for a clerk;
- unapplied rows: whatever cash of a payment is neither applied nor suggested.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from django.db import connection

from o2c.money import quantize
from o2c.spreadsheets import write_csv
from o2c.tenancy import current_tenant_id

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
        cur.execute(
            "SELECT p.id, p.bank_reference, p.currency, p.unapplied_amount, s.allocations "
            "FROM payments_payment p LEFT JOIN cashapp_suggestion s ON s.tenant_id = p.tenant_id "
            "AND s.payment_id = p.id AND s.status = 'pending' AND s.rank = 1 "
            "WHERE p.tenant_id = %s AND p.unapplied_amount > 0 ORDER BY p.id", [tenant_id])
        for pid, ref, currency, unapplied, allocations in cur.fetchall():
            suggested = Decimal(0)
            # Django's cursor hands jsonb back as text.
            for a in json.loads(allocations) if isinstance(allocations, str) else allocations or []:
                applied = Decimal(a["applied"])
                suggested += applied
                rows[pid].append([ref, a["invoice_number"], quantize(applied, currency),
                                  quantize(Decimal(a["deduction"]), currency), "suggested"])
            remainder = unapplied - suggested
            if remainder > 0:
                rows[pid].append([ref, "", quantize(remainder, currency), quantize(Decimal(0), currency),
                                  "unapplied"])
    for pid in sorted(rows):
        yield from rows[pid]


def cash_application_export(stream) -> int:
    """Amounts go out as Decimal (numbers); references and invoice numbers are escaped (o2c.spreadsheets)."""
    return write_csv(stream, HEADER, cash_application_rows(), lineterminator="\n")
