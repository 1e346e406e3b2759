"""A tenant's match index kept warm in the worker between runs, and refreshed from the rows changed since.

Building the index reads the whole open ledger (a million invoices: ~5 s, most of a small run). A worker keeps
the index of the last tenants it ran (`O2C_MATCH_INDEX_CACHE_TENANTS`, an LRU, one by default: an index of a
million invoices is ~0.5 GB) and, at the start of the next run of that tenant, reads only what changed:

- every customer, alias and bank account, only when one of them changed (a row written since the watermark, or
  a count that differs: one deleted); the payer side is then rebuilt (5,000 customers: ~0.3 s);
- the invoices whose row changed since the watermark (imported, paid by a clerk or by another run, voided,
  edited), open or not, found by the row's `xmin`;
- every invoice the index consumed during its last run, whatever the ledger says of it: the run's own
  postings may have been refused, or not committed (a run stopped), so the index trusts the ledger, not
  itself, for them.

The watermark rule (why no committed row is missed): a refresh reads the changed rows and the snapshot's xmin
in one statement, so under one snapshot. Every transaction with an id below that xmin had ended when the
snapshot was taken: its rows are visible to it (committed) or never will be (aborted). Any transaction that
was still running (its rows invisible then) has an id at or above that xmin, so the next refresh, which
reads the rows whose `xmin` is at or above it, reads them. Rows read twice are harmless (a refresh replaces
an invoice by its row). `xmin` is a 32-bit id compared against the 64-bit snapshot ids modulo 2^32, which is
exact for any row written in the last two billion transactions; an older, frozen row may look recent and is
then read again for nothing.

Deleted rows leave no `xmin`: the same statement counts the tenant's open invoices, and an index that does not
hold exactly that many (a row deleted, the database restored or truncated under the worker) is built again.

Any doubt drops the index: a run that failed (its task may be retried elsewhere), an index this process is
using for another run of the tenant (the cache hands an index to one run at a time: it is taken out, and put
back when the run ends well), Citus (rows' `xmin` are the workers', not the coordinator's snapshot's).
Tenancy: the cache is keyed by tenant, and every read is made inside that tenant's scope (row-level security).
"""

from __future__ import annotations

import gc
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.db import connection

from o2c.bulk import pg_array
from o2c.ledger.status import INVOICE_OUTSTANDING
from o2c.tenancy import current_tenant_id

from .matching import MatchIndex, OpenInvoice
from .records import ZERO, customer_records, open_invoice_records

_lock = threading.Lock()
_kept: OrderedDict[int, WarmIndex] = OrderedDict()  # tenant id -> its index, least recently used first
stats: Counter = Counter()  # "built" (from scratch), "refreshed", "rebuilt" (a refresh that found a doubt)


@dataclass
class WarmIndex:
    index: MatchIndex
    watermark: int  # the snapshot xmin its rows were read under: rows written at or after it are re-read
    frozen: bool = False  # out of the cyclic collector's sight (see checkin)
    # (counts of customers, aliases, bank accounts; their row versions written since the watermark) at the last
    # refresh: what the payer side was found to be, or read at
    payer_rows: tuple | None = None


def checkout() -> WarmIndex:
    """The current tenant's index for a run: the kept one brought up to date, or a new one. Call inside the
    tenant's scope. The index is the caller's until it hands it back with `checkin` (or drops it)."""
    tenant_id = current_tenant_id()
    with _lock:
        kept = _kept.pop(tenant_id, None)
    if kept is not None and not connection.is_citus:
        if _refresh(kept):
            stats["refreshed"] += 1
            return kept
        stats["rebuilt"] += 1
    return build()


def checkin(tenant_id: int, warm: WarmIndex) -> None:
    """Keep a run's index for the tenant's next run: only after the run ended well."""
    size = _capacity()
    if size <= 0 or connection.is_citus:
        return
    with _lock:
        _kept[tenant_id] = warm
        _kept.move_to_end(tenant_id)
        while len(_kept) > size:
            _kept.popitem(last=False)
    if not warm.frozen:
        # A new index is millions of objects the collector would walk, in vain, at its next collections of the
        # older generations (they hold no cycles; the index is freed by reference counting when dropped):
        # moved to the permanent generation once, when it is first kept. A refresh adds a few objects only.
        gc.freeze()
        warm.frozen = True


def forget(tenant_id: int | None = None) -> None:
    """Drop a tenant's kept index (every tenant's with no argument)."""
    with _lock:
        if tenant_id is None:
            _kept.clear()
        else:
            _kept.pop(tenant_id, None)


def kept_tenants() -> list[int]:
    with _lock:
        return list(_kept)


def _capacity() -> int:
    return int(getattr(django_settings, "O2C_MATCH_INDEX_CACHE_TENANTS", 1))


def build() -> WarmIndex:
    """A new index of the current tenant, with the watermark read before its rows (an earlier snapshot's xmin
    is at most the reads' own, so nothing they could not see is above the watermark's reach)."""
    watermark = _snapshot_xmin()
    index = MatchIndex.build(customer_records(), open_invoice_records())
    stats["built"] += 1
    return WarmIndex(index, watermark)


def _snapshot_xmin() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT txid_snapshot_xmin(txid_current_snapshot())")
        return cur.fetchone()[0]


# Rows written at or after the watermark, and the invoices the index consumed, with the open count and the new
# watermark of the same snapshot (one statement, one snapshot); and for the payer side (customers, aliases,
# bank accounts), their counts and the versions (id, xmin) of their rows written at or after the watermark.
# A row is written at or after the watermark when its 32-bit xmin's age is at most the watermark's: both ages
# are counted back from the same id (the transaction's, or the next one), modulo 2^32. Each age is a plain
# integer compare per row; the snapshot is taken once (in a CTE computed once, not per row: 0.6 s at 1M rows).
_CHANGED = (
    "WITH s AS MATERIALIZED (SELECT txid_snapshot_xmin(txid_current_snapshot()) AS w, "
    "age((%(since)s %% 4294967296)::text::xid) AS since), "
    "h AS MATERIALIZED (SELECT s.w, "
    "(SELECT count(*) FROM o2c_invoice WHERE tenant_id = %(t)s AND status = ANY(%(open)s) AND open_balance > 0) AS n, "
    "(SELECT count(*) FROM o2c_customer WHERE tenant_id = %(t)s) AS cn, "
    "(SELECT count(*) FROM o2c_customeralias WHERE tenant_id = %(t)s) AS an, "
    "(SELECT count(*) FROM o2c_customerbankaccount WHERE tenant_id = %(t)s) AS bn, "
    "ARRAY(SELECT 'c' || id || ':' || xmin FROM o2c_customer WHERE tenant_id = %(t)s AND age(xmin) <= s.since "
    "UNION ALL SELECT 'a' || id || ':' || xmin FROM o2c_customeralias WHERE tenant_id = %(t)s AND age(xmin) <= s.since "
    "UNION ALL SELECT 'b' || id || ':' || xmin FROM o2c_customerbankaccount "
    "WHERE tenant_id = %(t)s AND age(xmin) <= s.since) AS payers "
    "FROM s) "
    "SELECT h.w, h.n, h.cn, h.an, h.bn, h.payers, i.id, i.customer_id, i.number, i.amount, "
    "nullif(i.open_balance, i.amount), i.currency, i.due_date, i.po_number, nullif(i.discount_percent, 0), "
    "i.discount_due_date, i.status = ANY(%(open)s) AND i.open_balance > 0 "
    "FROM h LEFT JOIN o2c_invoice i ON i.tenant_id = %(t)s AND ("
    "age(i.xmin) <= (SELECT since FROM s) "
    "OR i.id IN (SELECT unnest(%(consumed)s::bigint[])))"  # a hashed subplan: = ANY would scan the array per row
)


def _refresh(kept: WarmIndex) -> bool:
    """Bring the kept index up to date; False when it cannot be trusted (then the caller builds anew)."""
    tenant_id = current_tenant_id()
    index = kept.index
    with connection.cursor() as cur:
        cur.execute(_CHANGED, {"t": tenant_id, "open": list(INVOICE_OUTSTANDING), "since": kept.watermark,
                               "consumed": pg_array(sorted(index.consumed))})
        rows = cur.fetchall()
    stats["rows read by refreshes"] += len(rows)
    watermark, open_count, payer_counts, payer_versions = rows[0][0], rows[0][1], rows[0][2:5], set(rows[0][5])
    open_rows, closed = [], list(index.consumed - {row[6] for row in rows})  # consumed, and deleted since
    for row in rows:
        iid, customer, number, amount, balance, currency, due, po, discount, discount_due, is_open = row[6:]
        if iid is None:
            continue
        if is_open:
            open_rows.append(OpenInvoice(iid, customer, number, amount, amount if balance is None else balance,
                                         currency, due, po, discount or ZERO, discount_due))
        else:
            closed.append(iid)
    # The payer side is read again only when one of its rows changed (5,000 customers: ~0.3 s to read and index):
    # a row version written since the watermark that the last refresh had not seen already (the watermark lags
    # behind any transaction still running, anywhere on the server: the same versions come back run after run),
    # or a count that differs (a row deleted). Both are of this snapshot; a reload reads a later one, so a change
    # in between is seen next time.
    seen = kept.payer_rows
    reload_payers = seen is None or seen[0] != payer_counts or not payer_versions <= seen[1]
    index.refresh(customer_records() if reload_payers else None, open_rows, closed)
    kept.payer_rows = (payer_counts, payer_versions)
    if len(index.open) != open_count:
        return False  # rows deleted under the index (or a bug): do not guess
    kept.watermark = watermark
    return True
