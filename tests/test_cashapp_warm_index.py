"""The tenant's match index kept warm between runs (cashapp.warm): reused, refreshed from the rows changed since,
dropped on any doubt, never shared between tenants."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from cashapp import warm
from cashapp.matching import CustomerRecord, MatchIndex, OpenInvoice, Proposal
from cashapp.matching.engine import _ids
from cashapp.models import Application, CashAppSettings, PaymentMatch
from cashapp.services import matching_run_create, matching_run_execute, payment_apply
from o2c.models import CustomerAlias
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

D = Decimal


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.O2C_MATCH_INDEX_CACHE_TENANTS = 1
    warm.forget()
    yield
    warm.forget()


def _manual_runs(tenant):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)


def _ledger(tenant, name="Wayne Enterprises Inc", start=1000, n=4):
    with tenant_context(tenant):
        customer = CustomerFactory(name=name)
        return customer, [InvoiceFactory(customer=customer, number=f"INV-{start + i:06d}", amount=D("120.00") + i)
                          for i in range(n)]


def _run(tenant, credits=()):
    with tenant_context(tenant):
        if credits:
            import_credits(credits)
        run = matching_run_create()
    return matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)


def _kept_index(tenant) -> MatchIndex:
    kept = warm._kept.get(tenant.pk)
    assert kept is not None, "the tenant's index was not kept"
    return kept.index


@pytest.mark.django_db(transaction=True)
def test_the_next_run_refreshes_the_kept_index_and_sees_what_changed_between_runs(tenant, member_factory):
    _manual_runs(tenant)
    clerk = member_factory(tenant)
    customer, invoices = _ledger(tenant)
    before = warm.stats.copy()
    run = _run(tenant, [Credit("R1", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
    assert (run.auto_applied, warm.stats["built"] - before["built"]) == (1, 1)
    first = _kept_index(tenant)
    assert invoices[0].pk in first.consumed  # the run's own posting, to be read back from the ledger

    # Between the runs: an invoice imported, another paid by a clerk, an alias added.
    with tenant_context(tenant):
        new = InvoiceFactory(customer=customer, number="INV-009999", amount=D("777.77"))
        import_credits([Credit("CLERK", invoices[1].amount, payer="Somebody")])
        payment_apply(payment=Payment.objects.get(bank_reference="CLERK"), actor=clerk, allocations=[{
            "invoice_id": invoices[1].pk, "invoice_number": invoices[1].number, "applied": str(invoices[1].amount)}])
        other = CustomerFactory(name="Gotham Utilities")
        only = InvoiceFactory(customer=other, number="INV-005000", amount=D("431.10"))
        CustomerAlias.objects.create(customer=other, alias="GCPD Accounts", normalized="GCPD ACCOUNTS")

    second = _run(tenant, [
        Credit("NEW", new.amount, payer="Wayne Enterprises", invoices=((new.number, new.amount),)),
        # By amount alone: only the alias names the payer, and only the refreshed index knows the alias.
        Credit("ALIAS", only.amount, payer="GCPD Accounts")])
    assert warm.stats["built"] - before["built"] == 1  # no second build: the kept index was refreshed
    assert warm.stats["refreshed"] - before["refreshed"] == 1
    assert second.auto_applied == 2
    index = _kept_index(tenant)
    assert index is first
    assert index.open[new.pk] == index.open[only.pk] == 0  # consumed by this run: read back at the next refresh
    assert index.consumed == {new.pk, only.pk}
    assert invoices[1].pk not in index.open and invoices[0].pk not in index.open  # paid: out of the index
    assert index.open[invoices[2].pk] == invoices[2].amount
    with tenant_context(tenant):
        assert Application.objects.get(payment__bank_reference="NEW").invoice_id == new.pk
        alias_match = PaymentMatch.objects.get(payment__bank_reference="ALIAS")
        assert "alias" in alias_match.explanation
        assert Application.objects.get(payment__bank_reference="ALIAS").invoice_id == only.pk


@pytest.mark.django_db(transaction=True)
def test_the_payer_side_is_read_again_only_when_a_customer_alias_or_account_changed(tenant):
    _manual_runs(tenant)
    customer, invoices = _ledger(tenant)
    with tenant_context(tenant):
        alias = CustomerAlias.objects.create(customer=customer, alias="GCPD Accounts", normalized="GCPD ACCOUNTS")
    _run(tenant, [Credit("R1", invoices[0].amount, payer="Wayne Enterprises",
                         invoices=((invoices[0].number, invoices[0].amount),))])
    _run(tenant)  # the first refresh reads the payer side (and whatever the first run's postings taught it)
    payers = _kept_index(tenant).payers
    assert any("GCPD" in str(key) for key in payers.by_name)

    with tenant_context(tenant):  # an invoice changes, no customer does: the payer side is kept as it is
        InvoiceFactory(customer=customer, number="INV-008888", amount=D("88.00"))
    _run(tenant)
    assert _kept_index(tenant).payers is payers
    assert 88 in {int(v) for v in _kept_index(tenant).open.values()}

    with tenant_context(tenant):  # deleted: no row left to show it but the count
        alias.delete()
    _run(tenant)
    assert _kept_index(tenant).payers is not payers
    assert not any("GCPD" in str(key) for key in _kept_index(tenant).payers.by_name)
    payers = _kept_index(tenant).payers

    with tenant_context(tenant):  # renamed: its row was written since the watermark
        type(customer).objects.filter(pk=customer.pk).update(name="Wayne Holdings")
    _run(tenant)
    assert _kept_index(tenant).payers is not payers
    assert _kept_index(tenant).customers[customer.pk].name == "Wayne Holdings"


@pytest.mark.django_db(transaction=True)
def test_what_the_index_consumed_is_read_back_from_the_ledger_not_trusted(tenant):
    """A posting refused or never committed leaves the matcher's in-memory balance wrong: the next refresh
    takes the ledger's word for every invoice the index consumed."""
    _manual_runs(tenant)
    _, invoices = _ledger(tenant)
    with tenant_context(tenant):
        kept = warm.checkout()
        target = invoices[2]
        kept.index.consume(Proposal(None, (_allocation(target.pk, target.number, target.amount),), D(0), 1.0, ""))
        assert kept.index.open[target.pk] == 0
    warm.checkin(tenant.pk, kept)
    with tenant_context(tenant):
        again = warm.checkout()
    assert again is kept and again.index.open[target.pk] == target.amount and not again.index.consumed


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_drops_the_kept_index(tenant, monkeypatch):
    from cashapp.services import runs

    _manual_runs(tenant)
    _, invoices = _ledger(tenant)
    _run(tenant, [Credit("R1", invoices[0].amount, payer="Wayne Enterprises",
                         invoices=((invoices[0].number, invoices[0].amount),))])
    assert warm.kept_tenants() == [tenant.pk]

    def broken(*args, **kwargs):
        raise RuntimeError("matcher crashed (simulated)")
    monkeypatch.setattr(runs, "_match_and_commit", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        _run(tenant, [Credit("R2", invoices[1].amount, payer="Wayne Enterprises")])
    assert warm.kept_tenants() == []
    monkeypatch.undo()
    built = warm.stats["built"]
    assert _run(tenant).auto_applied == 1
    assert warm.stats["built"] == built + 1  # built afresh, not taken from the failed run


@pytest.mark.django_db(transaction=True)
def test_rows_deleted_under_the_index_make_it_build_again(tenant):
    from django.db import connections

    _manual_runs(tenant)
    _, invoices = _ledger(tenant)
    _run(tenant)
    with connections["owner"].cursor() as cur:
        cur.execute("DELETE FROM o2c_invoice WHERE id = %s", [invoices[3].pk])
    rebuilt = warm.stats["rebuilt"]
    _run(tenant)
    assert warm.stats["rebuilt"] == rebuilt + 1
    assert invoices[3].pk not in _kept_index(tenant).open


@pytest.mark.django_db(transaction=True)
def test_two_tenants_never_share_an_index(tenant, other_tenant, settings):
    settings.O2C_MATCH_INDEX_CACHE_TENANTS = 2
    for t in (tenant, other_tenant):
        _manual_runs(t)
    _, ours = _ledger(tenant, start=1000)
    _, theirs = _ledger(other_tenant, name="Globex Widgets", start=2000)
    _run(tenant)
    _run(other_tenant)
    assert sorted(warm.kept_tenants()) == sorted([tenant.pk, other_tenant.pk])
    a, b = _kept_index(tenant), _kept_index(other_tenant)
    assert a is not b
    assert set(a.open) == {i.pk for i in ours} and set(b.open) == {i.pk for i in theirs}
    # A refresh in one tenant's scope reads that tenant's rows only (row-level security and the key).
    with tenant_context(other_tenant):
        InvoiceFactory(customer=theirs[0].customer, number="INV-002999", amount=D("5.00"))
    _run(tenant)
    assert set(_kept_index(tenant).open) == {i.pk for i in ours}

    settings.O2C_MATCH_INDEX_CACHE_TENANTS = 1  # one index per process: the least recently used goes
    _run(other_tenant)
    assert warm.kept_tenants() == [other_tenant.pk]


# --- the pure refresh: equal to a build from the ledger as it is now ----------------------------------------

def _allocation(iid, number, amount):
    from cashapp.matching import Allocation

    return Allocation(iid, number, amount)


def _shape(index: MatchIndex) -> dict:
    """What a build from these invoices would hold, in comparable form (order-free where the matcher sorts)."""
    def keyed(d):
        return {k: sorted(_ids(v)) for k, v in d.items() if sorted(_ids(v))}

    live_amounts = {}
    for amount, hit in index.by_amount.items():
        ids = sorted(i for i in _ids(hit) if i in index.open)
        if ids:
            live_amounts[amount] = ids
    return {
        "open": dict(index.open),
        "invoices": {i: (inv.customer_id, inv.number, inv.amount, inv.due_date, inv.po_number)
                     for i, inv in index.invoices.items()},
        "by_ref": keyed(index.by_ref), "by_po": keyed(index.by_po), "by_amount": live_amounts,
        "by_customer": {c: sorted(v) for c, v in index.by_customer.items() if v},
        "with_discount": {c: sorted(v) for c, v in index.with_discount.items() if v},
        "by_name": {k: sorted(v) for k, v in index.payers.by_name.items()},
        "by_account": dict(index.by_account),
        "customers": sorted(index.customers),
    }


def test_a_refreshed_index_is_the_index_a_build_would_give():
    rnd = random.Random(7)
    day = date(2026, 1, 1)
    customers = [CustomerRecord(c, f"Customer {c} Inc", bank_accounts=(f"DE{c:020d}",)) for c in range(1, 21)]

    def invoice(iid, **changes):
        fields = dict(id=iid, customer_id=rnd.randrange(1, 21), number=f"INV-{iid:07d}",
                      amount=D(rnd.choice(["100.00", "250.00", str(rnd.randrange(1000, 99999) / 100)])),
                      currency="USD", due_date=day + timedelta(days=rnd.randrange(60)),
                      po_number=rnd.choice(["", f"PO-{iid % 37}"]),
                      discount_percent=rnd.choice([D(0), D(2)]))
        fields.update(changes)
        fields.setdefault("open_balance", fields["amount"])
        return OpenInvoice(**fields)

    ledger = {i: invoice(i) for i in range(1, 401)}
    index = MatchIndex.build(customers, ledger.values())
    # A run consumes some (settled, or paid in part) and looks at customers' views, which must not go stale.
    for iid in rnd.sample(sorted(ledger), 60):
        inv = ledger[iid]
        paid = inv.amount if rnd.random() < 0.5 else (inv.amount / 2).quantize(D("0.01"))
        index.customer_live(inv.customer_id, "USD")
        index.consume(Proposal(inv.customer_id, (_allocation(iid, inv.number, paid),), D(0), 1.0, ""))
    index.settled_by(1, "USD", D("100.00"))
    index.settling_exactly(D("250.00"), "USD", 64)
    # The ledger's word on them: some posted (settled, or paid in part), some refused (as they were).
    now = dict(ledger)
    for iid in index.consumed:
        fate = rnd.choice(["settled", "part", "refused"])
        if fate == "settled":
            del now[iid]
        elif fate == "part":
            now[iid] = invoice(iid, customer_id=ledger[iid].customer_id, amount=ledger[iid].amount,
                               open_balance=(ledger[iid].amount / 2).quantize(D("0.01")))
    # Changed by others since: new invoices, one moved to another customer and renumbered, one voided.
    for iid in range(401, 431):
        now[iid] = invoice(iid)
    moved = next(i for i in sorted(now) if i not in index.consumed)
    now[moved] = invoice(moved, number=f"INV-R{moved}")
    voided = next(i for i in sorted(now, reverse=True) if i not in index.consumed and i <= 400)
    del now[voided]
    customers[0] = CustomerRecord(1, "Renamed Holdings", bank_accounts=("DE1",))

    changed = set(index.consumed) | set(range(401, 431)) | {moved, voided}
    index.refresh(customers, [now[i] for i in sorted(changed) if i in now], [i for i in changed if i not in now])
    fresh = MatchIndex.build(customers, now.values())
    assert _shape(index) == _shape(fresh)
    # And the views built on first use agree with a fresh index's.
    for c in range(1, 21):
        assert list(index.customer_live(c, "USD")) == list(fresh.customer_live(c, "USD"))
        for amount in (D("100.00"), D("250.00"), now[next(iter(now))].amount):
            assert [sorted(x) for x in index.settled_by(c, "USD", amount)] == \
                [sorted(x) for x in fresh.settled_by(c, "USD", amount)]
    for amount in (D("100.00"), D("250.00"), D("98.00"), D("245.00")):
        assert sorted(index.settling_exactly(amount, "USD", 1000)) == \
            sorted(fresh.settling_exactly(amount, "USD", 1000))
    # The ledger-wide table of discounted amounts was kept through the refresh, not built again, and holds what
    # a fresh one does.
    assert index._discounted_all is not None
    assert {k: sorted(v) for k, v in index._discounted_all.items() if v} == \
        {k: sorted(v) for k, v in fresh._discounted_all.items() if v}


def test_a_refresh_without_what_the_index_consumed_is_refused():
    customers = [CustomerRecord(1, "Acme")]
    inv = OpenInvoice(1, 1, "INV-1", D("10.00"), D("10.00"), "USD", date(2026, 1, 1))
    index = MatchIndex.build(customers, [inv])
    index.consume(Proposal(1, (_allocation(1, "INV-1", D("4.00")),), D(0), 1.0, ""))
    with pytest.raises(ValueError, match="consumed"):
        index.refresh(customers, [], [])


def test_live_below_gives_what_walking_the_customers_live_invoices_gives():
    """A big customer's first invoices below an amount, found by blocks: the same ids, in the same order, as the
    walk over its live invoices, also after invoices were settled or paid in part (balances only go down)."""
    rnd = random.Random(3)
    day = date(2026, 1, 1)
    customers = [CustomerRecord(1, "Big Buyer Inc"), CustomerRecord(2, "Small Buyer Inc")]
    invoices = [OpenInvoice(i, 1 if i % 10 else 2, f"INV-{i:07d}", D(rnd.randrange(1000, 500000)) / 100,
                            D(0), "USD", day + timedelta(days=rnd.randrange(90))) for i in range(1, 3001)]
    for inv in invoices:
        inv.open_balance = inv.amount
    index = MatchIndex.build(customers, invoices)

    def walked(amount, limit):
        lives = [index.customer_live(c, "USD") for c in (1, 2)]
        return [i for live in lives for i in live if index.open[i] < amount][:limit]

    for round_ in range(4):
        for amount in (D("10.50"), D("25.00"), D("80.00"), D("1000.00"), D("4999.00")):
            for limit in (1, 41, 5000):
                assert index.live_below((1, 2), "USD", amount, limit) == walked(amount, limit)
        for iid in rnd.sample(sorted(index.open), 300):
            if index.open[iid] > 0:
                paid = index.open[iid] if round_ % 2 else (index.open[iid] * D("0.9")).quantize(D("0.01"))
                index.consume(Proposal(None, (_allocation(iid, "", paid),), D(0), 1.0, ""))
