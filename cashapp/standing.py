"""Whether a suggestion still fits the ledger as it stands: one rule for the run that writes suggestions and
the export that reports them.

A suggestion is worked out on a snapshot; by the time it is written or exported, a run or a clerk may have
applied the payment or settled its invoices. It still makes sense only if the payment still has the cash it
spends and every invoice it names still has open what it settles, the same checks posting makes when a
clerk accepts it. Each suggestion is judged whole, as it would be posted: all its lines or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from o2c.bulk import pg_array
from o2c.models.ledger import InvoiceStatus

# (invoice id, cash of the payment applied, amount settled: applied + discount + deduction + write-off)
SuggestedLine = tuple[int, Decimal, Decimal]


def invoice_open_balances(cur, tenant_id: int, invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    """The open balances of these invoices now; void ones are left out (nothing can be applied to them)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    cur.execute("SELECT id, open_balance FROM o2c_invoice WHERE tenant_id = %s AND id = ANY(%s::bigint[]) "
                "AND status <> %s", [tenant_id, pg_array(ids), InvoiceStatus.VOID.value])
    return dict(cur.fetchall())


def suggestion_fits(lines: Iterable[SuggestedLine], unapplied: Decimal, open_balances: dict[int, Decimal]) -> bool:
    lines = list(lines)
    if sum((applied for _, applied, _ in lines), Decimal(0)) > unapplied:
        return False
    return all(invoice_id in open_balances and 0 < settled <= open_balances[invoice_id]
               for invoice_id, _, settled in lines)


def lines_of_allocations(allocations: list[dict]) -> list[SuggestedLine]:
    """The lines of a stored suggestion (`Suggestion.allocations`, amounts as strings)."""
    def amount(a, key):
        return Decimal(a.get(key) or 0)

    return [(int(a["invoice_id"]), amount(a, "applied"),
             amount(a, "applied") + amount(a, "discount") + amount(a, "deduction") + amount(a, "write_off"))
            for a in allocations]
