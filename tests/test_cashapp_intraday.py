"""Intraday matching: a run started by an import looks at that import's payments; waiting payments are retried
when something relevant to them changes (their payer's invoices, an alias or account that could name a payer, a
clerk's rejection) and nightly; a retry that finds the same answer leaves the clerk's queue as it was."""

from decimal import Decimal

import pytest

from cashapp.models import Application, CashAppSettings, MatchingRun, PaymentMatch, Suggestion
from cashapp.scopes import RunScope
from cashapp.services import matching_run_create, matching_run_enqueue, matching_run_execute, suggestion_reject
from o2c.models import CustomerAlias, CustomerBankAccount
from o2c.services.invoice_import import invoice_import_csv
from o2c.services.invoices import invoice_void
from o2c.tenancy import tenant_context
from payments.models import Payment, RemittanceAdvice
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,discount_percent,"
          "discount_due_date")


def _runs():
    return list(MatchingRun.objects.order_by("pk"))


def _decisions_of(payment_ids):
    """What a run writes about these payments, with ids and timestamps: unchanged means untouched."""
    return (sorted(PaymentMatch.objects.filter(payment_id__in=payment_ids)
                   .values_list("payment_id", "outcome", "run_id", "updated_at")),
            sorted(Suggestion.objects.filter(payment_id__in=payment_ids)
                   .values_list("pk", "payment_id", "status", "rank", "run_id", "created_at")))


def _twins(name="Stark Industries", amount="500.00"):
    """A customer with two open invoices of the same amount: a payment of it is suggested both, never posted."""
    customer = CustomerFactory(name=name)
    return customer, [InvoiceFactory(customer=customer, amount=D(amount), number=f"ST-{i}") for i in (1, 2)]


# --- an import's run -------------------------------------------------------------------------------------

def test_a_run_started_by_an_import_looks_only_at_that_imports_payments(tenant):
    with tenant_context(tenant):
        _twins()
        wayne = CustomerFactory(name="Wayne Enterprises Inc")
        invoice = InvoiceFactory(customer=wayne, amount=D("120.00"), number="INV-001000")
    with tenant_context(tenant):  # each step commits on its own: the run starts once the import has committed
        first = import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES"),
                                Credit("STRANGER", "999.99", payer="Nobody We Know GmbH", text="thanks")])
    with tenant_context(tenant):
        [run] = _runs()
        assert (run.trigger, run.scope, run.payments_total, run.suggested, run.unmatched) == (
            "import", {"bank_files": [first.pk]}, 2, 1, 1)
        waiting = list(Payment.objects.values_list("pk", flat=True))
        before = _decisions_of(waiting)
        assert len(before[1]) == 2  # the two suggestions of AMBIG
    with tenant_context(tenant):
        second = import_credits([Credit("R0", "120.00", payer="WAYNE ENTERPRISES",
                                        invoices=((invoice.number, "120.00"),))])
    with tenant_context(tenant):
        run = _runs()[-1]
        assert (run.trigger, run.scope, run.payments_total, run.payments_done, run.auto_applied) == (
            "import", {"bank_files": [second.pk]}, 1, 1, 1)
        assert Payment.objects.get(bank_reference="R0").status == "applied"
        # The payments waiting from the first file were not looked at: no decision row was written again.
        assert _decisions_of(waiting) == before


def test_a_remittance_files_scope_takes_in_the_earlier_payments_its_advice_explains(tenant):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        earlier = import_credits([Credit("P1", "10.00"), Credit("P2", "20.00")])
        later = import_credits([Credit("P3", "30.00")])
        p1 = Payment.objects.get(bank_reference="P1")
        RemittanceAdvice.objects.create(bank_file=later, payment=p1, payment_reference="P1", raw="-", fingerprint="f")
        in_scope = Payment.objects.filter(RunScope.of(bank_files=[later.pk]).filter())
        assert sorted(in_scope.values_list("bank_reference", flat=True)) == ["P1", "P3"]
        assert Payment.objects.filter(RunScope.of(bank_files=[earlier.pk]).filter()).count() == 2


def test_a_request_joining_the_queued_run_widens_its_scope(tenant, member_factory, verified_client):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        import_credits([Credit("OLD", "1.00", payer="Nobody")])
        running = matching_run_create(trigger="manual")
        MatchingRun.objects.filter(pk=running.pk).update(status="running")
        CashAppSettings.objects.update(match_after_import=True)
    with tenant_context(tenant):
        a = import_credits([Credit("A1", "2.00", payer="Nobody")])
    with tenant_context(tenant):
        [queued] = MatchingRun.objects.filter(status="queued")  # its task left it waiting behind the running run
        assert (queued.trigger, queued.scope, queued.payments_total) == ("import", {"bank_files": [a.pk]}, 1)
    with tenant_context(tenant):
        b = import_credits([Credit("B1", "3.00", payer="Nobody"), Credit("B2", "4.00", payer="Nobody")])
    with tenant_context(tenant):
        queued.refresh_from_db()
        assert (queued.scope, queued.payments_total) == ({"bank_files": [a.pk, b.pk]}, 3)
        assert MatchingRun.objects.count() == 2  # joined, not a run of its own

    client = verified_client(member_factory(tenant))
    page = client.get(f"/cash-application/runs/{queued.pk}/").content.decode()
    assert f"payments of bank files {a.pk}, {b.pk}" in page

    with tenant_context(tenant):
        assert matching_run_enqueue(trigger="manual").pk == queued.pk
    with tenant_context(tenant):
        queued.refresh_from_db()
        assert (queued.scope, queued.payments_total) == ({"all": True}, 4)  # anything joined with all is all
        assert queued.run_scope.describe() == "all waiting payments"
        matching_run_enqueue(trigger="import", scope=RunScope.of(bank_files=[a.pk]))
    with tenant_context(tenant):
        queued.refresh_from_db()
        assert queued.scope == {"all": True}

    with tenant_context(tenant):
        MatchingRun.objects.filter(pk=running.pk).update(status="done")
    queued = matching_run_execute(tenant_id=tenant.pk, run_id=queued.pk)
    assert (queued.status, queued.payments_done, queued.unmatched) == ("done", 4, 4)


def test_scopes_combine_by_union():
    files, payer = RunScope.of(bank_files=[1]), RunScope.of(customers=[7], payments=[3])
    both = files.union(payer)
    assert both == RunScope.of(bank_files=[1], customers=[7], payments=[3])
    assert both.covers(files) and both.covers(payer) and not files.covers(payer)
    assert files.union(RunScope.all()) == RunScope.all() == RunScope.from_json(None)
    assert RunScope.from_json(both.to_json()) == both
    assert RunScope.of(payments=range(10_000)) == RunScope.all()  # too many to name: everything
    assert RunScope().empty and not RunScope.of(payerless=True).empty


# --- retries -----------------------------------------------------------------------------------------------

def test_invoices_imported_for_a_payer_retry_its_waiting_payments_only(tenant):
    with tenant_context(tenant):
        wayne = CustomerFactory(name="Wayne Enterprises Inc", external_id="C-W")
        InvoiceFactory(customer=wayne, amount=D("10.00"))  # so that the payer is known; not what it paid
    with tenant_context(tenant):
        import_credits([Credit("W1", "750.00", payer="WAYNE ENTERPRISES INC", text="invoice 77001"),
                        Credit("STRANGER", "750.00", payer="Nobody We Know GmbH")])
    with tenant_context(tenant):
        wayne_payment = Payment.objects.get(bank_reference="W1")
        stranger = Payment.objects.get(bank_reference="STRANGER")
        assert (wayne_payment.customer_id, stranger.customer_id) == (wayne.pk, None)  # identified, not
        assert PaymentMatch.objects.get(payment=stranger).outcome == "unmatched"
        stranger_before = _decisions_of([stranger.pk])
    with tenant_context(tenant):  # another customer's invoices: nothing new for Wayne's payments
        invoice_import_csv(data=f"{HEADER}\nX-1,C-O,Other Co,2026-01-05,2026-02-04,5.00,USD,,,\n".encode(),
                           file_name="other.csv")
    with tenant_context(tenant):
        assert MatchingRun.objects.filter(trigger="invoices").count() == 0
    with tenant_context(tenant):
        invoice_import_csv(data=f"{HEADER}\n77001,C-W,Wayne Enterprises Inc,2026-01-05,2026-02-04,750.00,USD,,,\n"
                           .encode(), file_name="wayne.csv")
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="invoices")
        assert (retry.status, retry.scope, retry.payments_done, retry.auto_applied) == (
            "done", {"customers": [wayne.pk]}, 1, 1)
        assert Payment.objects.get(pk=wayne_payment.pk).status == "applied"
        assert _decisions_of([stranger.pk]) == stranger_before


def test_invoices_of_a_subsidiary_retry_the_waiting_payments_of_the_parent_paying_for_it(tenant):
    with tenant_context(tenant):
        parent = CustomerFactory(name="Acme Holdings Group")
        CustomerFactory(name="Acme Retail", external_id="C-R", parent=parent)
        InvoiceFactory(customer=parent, amount=D("10.00"))
    with tenant_context(tenant):
        import_credits([Credit("P1", "450.00", payer="ACME HOLDINGS GROUP")])
    with tenant_context(tenant):
        assert Payment.objects.get().customer_id == parent.pk
    with tenant_context(tenant):
        invoice_import_csv(data=f"{HEADER}\nR-1,C-R,Acme Retail,2026-01-05,2026-02-04,450.00,USD,,,\n".encode(),
                           file_name="retail.csv")
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="invoices")
        assert (retry.scope, retry.payments_done) == ({"customers": [parent.pk]}, 1)


def test_a_changed_invoice_retries_its_payers_waiting_payments(tenant):
    with tenant_context(tenant):
        invoice_import_csv(data=f"{HEADER}\n88001,C-W,Wayne Enterprises Inc,2026-01-05,2026-02-04,700.00,USD,,,\n"
                           .encode(), file_name="wayne.csv")
    with tenant_context(tenant):
        import_credits([Credit("W1", "750.00", payer="WAYNE ENTERPRISES INC")])
    with tenant_context(tenant):
        payment = Payment.objects.get(bank_reference="W1")
        assert payment.status == "unapplied" and payment.customer_id
        before = set(Suggestion.objects.values_list("pk", flat=True))
    with tenant_context(tenant):
        invoice_import_csv(data=f"{HEADER}\n88001,C-W,Wayne Enterprises Inc,2026-01-05,2026-02-04,750.00,USD,,,\n"
                           .encode(), file_name="wayne-corrected.csv")
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="invoices")
        assert retry.scope == {"customers": [payment.customer_id]} and retry.payments_done == 1
        assert Payment.objects.get(pk=payment.pk).status == "applied"
        assert not Suggestion.objects.filter(status="pending").exists()
        assert Suggestion.objects.filter(pk__in=before).exclude(status="superseded").count() == 0


def test_an_invoice_owed_again_after_a_reversal_retries_its_payers_waiting_payments(tenant, member_factory):
    from cashapp.services import application_reverse

    clerk = member_factory(tenant)
    with tenant_context(tenant):
        wayne = CustomerFactory(name="Wayne Enterprises Inc")
        invoice = InvoiceFactory(customer=wayne, amount=D("300.00"), number="INV-300")
    with tenant_context(tenant):
        import_credits([Credit("FIRST", "300.00", payer="WAYNE ENTERPRISES INC", invoices=(("INV-300", "300.00"),))])
    with tenant_context(tenant):
        import_credits([Credit("SECOND", "300.00", payer="WAYNE ENTERPRISES INC")])
    with tenant_context(tenant):
        second = Payment.objects.get(bank_reference="SECOND")
        assert (second.status, second.customer_id) == ("unapplied", wayne.pk)  # its invoice was paid already
        application = Application.objects.get(payment__bank_reference="FIRST")
    with tenant_context(tenant):
        application_reverse(application=application, actor=clerk, reason="paid by the other payment")
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="invoices")
        assert (retry.scope, retry.payments_done) == ({"customers": [wayne.pk]}, 1)  # not FIRST: a clerk decided
        assert Application.objects.get(payment=second).invoice_id == invoice.pk


def test_a_new_alias_retries_the_waiting_payments_without_a_payer(tenant):
    with tenant_context(tenant):
        initech = CustomerFactory(name="Initech Corporation")
        InvoiceFactory(customer=initech, amount=D("640.00"), number="IN-1")
        InvoiceFactory(customer=CustomerFactory(), amount=D("640.00"), number="OTHER-1")
    with tenant_context(tenant):
        import_credits([Credit("PENNY", "640.00", payer="PENNYWISE TRADING")])
    with tenant_context(tenant):
        payment = Payment.objects.get()
        assert (payment.customer_id, payment.status) == (None, "unapplied")
    with tenant_context(tenant):
        CustomerAlias.objects.create(customer=initech, alias="Pennywise Trading", normalized="PENNYWISE TRADING")
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="payer_learned")
        assert (retry.scope, retry.payments_done) == ({"payerless": True}, 1)
        payment.refresh_from_db()
        assert payment.customer_id == initech.pk
        assert Application.objects.get(payment=payment).invoice.number == "IN-1"


def test_a_new_bank_account_retries_too_and_nothing_is_asked_when_nothing_waits(tenant):
    with tenant_context(tenant):
        customer = CustomerFactory(name="Umbrella Corp")
        CustomerBankAccount.objects.create(customer=customer, account_identifier="GB00UMBR0001")
    with tenant_context(tenant):
        assert not MatchingRun.objects.exists()  # nothing waits: no run
        import_credits([Credit("U1", "5.00", payer="Unknown Payer Plc")])
    with tenant_context(tenant):
        CustomerBankAccount.objects.create(customer=customer, account_identifier="GB00UMBR0002")
    with tenant_context(tenant):
        assert MatchingRun.objects.filter(trigger="payer_learned", scope={"payerless": True}).count() == 1


def test_a_rejection_retries_the_payment_without_the_rejected_answer_and_keeps_the_other(tenant, member_factory):
    clerk = member_factory(tenant)
    with tenant_context(tenant):
        _, (first, second) = _twins()
    with tenant_context(tenant):
        import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES")])
    with tenant_context(tenant):
        payment = Payment.objects.get()
        ranked = list(Suggestion.objects.filter(status="pending").order_by("rank"))
        assert sorted(s.allocations[0]["invoice_id"] for s in ranked) == [first.pk, second.pk]
        kept = (ranked[1].pk, ranked[1].created_at)
    with tenant_context(tenant):
        suggestion_reject(suggestion=ranked[0], actor=clerk)
    with tenant_context(tenant):
        [retry] = MatchingRun.objects.filter(trigger="rejection")
        assert (retry.scope, retry.payments_done, retry.suggested) == ({"payments": [payment.pk]}, 1, 1)
        pending = list(Suggestion.objects.filter(status="pending"))
        # The other answer is still the clerk's open item, the same row; the rejected one is not back.
        assert [(s.pk, s.created_at) for s in pending] == [kept]
        assert Suggestion.objects.filter(status="rejected").count() == 1
        assert Suggestion.objects.count() == 2
        assert not PaymentMatch.objects.get().explanation.startswith("2 possible answers")


def test_an_answer_a_clerk_rejected_is_never_posted_later(tenant, member_factory):
    """The competing invoice is voided, so the matcher is now sure of the answer the clerk turned down."""
    from cashapp.tasks import retry_waiting_payments

    clerk = member_factory(tenant)
    with tenant_context(tenant):
        _, twins = _twins()
    with tenant_context(tenant):
        import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES")])
    with tenant_context(tenant):
        rejected = Suggestion.objects.get(rank=1)
        suggestion_reject(suggestion=rejected, actor=clerk)
    with tenant_context(tenant):
        invoice_void(invoice=next(i for i in twins if i.pk != rejected.allocations[0]["invoice_id"]))

    retry_waiting_payments.delay(tenant.pk)

    with tenant_context(tenant):
        run = MatchingRun.objects.get(trigger="schedule")
        assert (run.auto_applied, run.unmatched) == (0, 1)
        assert not Application.objects.exists()
        assert not Suggestion.objects.filter(status="pending").exists()
        assert PaymentMatch.objects.get().explanation == "every answer found was rejected by a clerk"


# --- no churn --------------------------------------------------------------------------------------------------

def test_a_retry_reaching_the_same_decisions_leaves_the_clerks_queue_untouched(tenant):
    from cashapp.tasks import retry_waiting_payments, retry_waiting_payments_all_tenants

    with tenant_context(tenant):
        stark, _ = _twins()
    with tenant_context(tenant):
        import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES"),
                        Credit("STRANGER", "999.99", payer="Nobody We Know GmbH")])
    with tenant_context(tenant):
        waiting = list(Payment.objects.values_list("pk", flat=True))
        before = _decisions_of(waiting)

    retry_waiting_payments_all_tenants.delay()  # what beat sends nightly (run in-process here)

    with tenant_context(tenant):
        run = MatchingRun.objects.get(trigger="schedule")
        assert (run.scope, run.payments_done, run.suggested, run.unmatched, run.unchanged) == (
            {"all": True}, 2, 1, 1, 2)
        assert _decisions_of(waiting) == before  # the same rows: ids, runs and timestamps
        old = set(Suggestion.objects.values_list("pk", flat=True))
        # A third invoice of the amount: the decision changes, and its suggestions are replaced.
        InvoiceFactory(customer=stark, amount=D("500.00"), number="ST-3")

    retry_waiting_payments.delay(tenant.pk)

    with tenant_context(tenant):
        run = MatchingRun.objects.filter(trigger="schedule").latest("pk")
        assert (run.payments_done, run.unchanged) == (2, 1)  # the stranger's decision stood
        assert Suggestion.objects.filter(pk__in=old, status="superseded").count() == 2
        assert Suggestion.objects.filter(status="pending").count() == 3


def test_the_nightly_retry_asks_only_where_payments_wait(tenant, other_tenant, settings):
    from cashapp.tasks import retry_waiting_payments_all_tenants

    assert settings.CELERY_BEAT_SCHEDULE["cashapp-retry-waiting-payments"]["task"] == (
        "cashapp.retry_waiting_payments_all_tenants")
    with tenant_context(tenant):
        import_credits([Credit("X", "1.00", payer="Nobody")])
    with tenant_context(other_tenant):
        CashAppSettings.objects.create(match_after_import=False)
        import_credits([Credit("Y", "1.00", payer="Nobody")])

    retry_waiting_payments_all_tenants.delay()

    with tenant_context(tenant):
        assert MatchingRun.objects.filter(trigger="schedule", status="done").count() == 1
    with tenant_context(other_tenant):  # automatic matching off: no retries either
        assert not MatchingRun.objects.exists()
