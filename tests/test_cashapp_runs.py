"""Matching runs end to end on the database: import, run (chunked), post, suggest, explain, resume."""

import gc
import sys
from decimal import Decimal

import pytest
from django.core.management import call_command

from cashapp.models import Application, CashAppSettings, MatchingRun, MatchOutcome, PaymentMatch, Suggestion
from cashapp.services import matching_run_create, matching_run_execute
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, applications_refused_after, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture(autouse=True)
def manual_runs(request, tenant):
    """These tests start their runs themselves; the one about automatic runs keeps the default."""
    if "automatic" not in request.node.name:
        with tenant_context(tenant):
            CashAppSettings.objects.create(match_after_import=False)


def ledger(tenant, n=6):
    with tenant_context(tenant):
        customer = CustomerFactory(name="Wayne Enterprises Inc")
        return customer, [InvoiceFactory(customer=customer, number=f"INV-{1000 + i:06d}", amount=D("120.00") + i)
                          for i in range(n)]


def test_run_posts_exact_matches_and_leaves_unknown_payers(tenant):
    customer, invoices = ledger(tenant)
    with tenant_context(tenant):
        import_credits([Credit(f"R{i}", inv.amount, payer="WAYNE ENTERPRISES", invoices=((inv.number, inv.amount),))
                        for i, inv in enumerate(invoices[:4])]
                       + [Credit("STRANGER", "999.99", payer="Nobody We Know GmbH", text="thanks")])
        run = matching_run_create(trigger="manual")
    assert run.payments_total == 5

    collecting, interval = gc.isenabled(), sys.getswitchinterval()
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=2)
    # The run turns the automatic collector off and shortens the GIL switch interval while it lasts, and
    # hands both back: a worker process runs other tasks afterwards.
    assert (gc.isenabled(), sys.getswitchinterval()) == (collecting, interval)

    assert (run.status, run.payments_done, run.auto_applied, run.unmatched) == ("done", 5, 4, 1)
    with tenant_context(tenant):
        for i, inv in enumerate(invoices[:4]):
            app = Application.objects.get(payment__bank_reference=f"R{i}")
            assert (app.invoice_id, app.applied_amount, app.source, app.run_id) == (inv.pk, inv.amount, "auto", run.pk)
            assert app.explanation and app.confidence >= D("0.9")
        stranger = Payment.objects.get(bank_reference="STRANGER")
        assert (stranger.status, stranger.customer_id) == ("unapplied", None)
        assert PaymentMatch.objects.get(payment=stranger).outcome == MatchOutcome.UNMATCHED
        assert not Suggestion.objects.filter(payment=stranger).exists()


def test_ambiguous_payment_is_suggested_never_posted(tenant):
    with tenant_context(tenant):
        customer = CustomerFactory(name="Stark Industries")
        twins = [InvoiceFactory(customer=customer, amount=D("500.00")) for _ in range(2)]
        import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES")])
        run = matching_run_create()
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    assert (run.auto_applied, run.suggested) == (0, 1)
    with tenant_context(tenant):
        assert not Application.objects.exists()
        ranked = list(Suggestion.objects.filter(status="pending").order_by("rank"))
        assert {s.allocations[0]["invoice_id"] for s in ranked} == {t.pk for t in twins}
        assert all(s.explanation for s in ranked)


def test_a_chunk_commits_asynchronously_and_notes_the_payer_of_what_it_only_suggests(tenant, monkeypatch):
    """A chunk's commit does not wait for the disk (its cursor commits with it: a chunk lost to a server crash is
    redone); the run's begin and finish, and every other transaction, still do."""
    from django.db import connection

    import cashapp.services.runs as runs

    seen = []
    record = runs._record_decisions

    def spying(*args, **kwargs):
        with connection.cursor() as cur:
            cur.execute("SHOW synchronous_commit")
            seen.append(cur.fetchone()[0])
        return record(*args, **kwargs)

    monkeypatch.setattr(runs, "_record_decisions", spying)
    with tenant_context(tenant):
        customer = CustomerFactory(name="Stark Industries")
        InvoiceFactory(customer=customer, amount=D("500.00"))
        InvoiceFactory(customer=customer, amount=D("500.00"))
        import_credits([Credit("AMBIG", "500.00", payer="STARK INDUSTRIES")])
        run = matching_run_create()
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    assert (run.status, run.suggested, seen) == ("done", 1, ["off"])
    with connection.cursor() as cur:
        cur.execute("SHOW synchronous_commit")
        assert cur.fetchone()[0] == "on"  # SET LOCAL: gone with the chunk's transaction
    with tenant_context(tenant):
        assert Payment.objects.get(bank_reference="AMBIG").customer_id == customer.pk


def test_a_finished_run_does_nothing_again_and_a_new_run_skips_posted_payments(tenant):
    _, invoices = ledger(tenant, 2)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
        run = matching_run_create()
    matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    again = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    assert again.status == "done"
    with tenant_context(tenant):
        assert Application.objects.count() == 1
        second = matching_run_create()
    assert second.payments_total == 0


def test_run_refuses_to_start_inside_a_transaction(tenant):
    from django.db import transaction

    with tenant_context(tenant):
        run = matching_run_create()
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)


def test_apply_cash_command(tenant, capsys):
    _, invoices = ledger(tenant, 1)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
    call_command("apply_cash", tenant=tenant.slug)
    assert "1 applied automatically, 0 waiting for a clerk, 0 unmatched" in capsys.readouterr().out
    with tenant_context(tenant):
        assert MatchingRun.objects.get().status == "done"
        assert Payment.objects.get().status == "applied"


def test_import_starts_a_run_automatically(tenant):
    _, invoices = ledger(tenant, 1)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
    # Celery runs eagerly in tests: the run started when the import committed and has finished.
    with tenant_context(tenant):
        run = MatchingRun.objects.get()
        assert (run.trigger, run.status, run.auto_applied) == ("import", "done", 1)
        assert run.bank_file.payments_created == 1
        assert Payment.objects.get().status == "applied"


def test_two_workers_executing_one_run_post_each_payment_once(tenant):
    """A redelivered task can run beside the first one: chunks serialise on the run's row and each skips
    what the cursor says is committed, and posting re-checks every balance, so nothing is posted twice."""
    import threading

    from django.db import connections

    _, invoices = ledger(tenant, 12)
    with tenant_context(tenant):
        import_credits([Credit(f"R{i}", inv.amount, payer="Wayne Enterprises", invoices=((inv.number, inv.amount),))
                        for i, inv in enumerate(invoices)])
        run = matching_run_create()
    barrier, errors = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait(timeout=10)
            matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=3)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    collecting, interval = gc.isenabled(), sys.getswitchinterval()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    # Two runs in one process overlapped: the settings they tune are handed back once, by the last to end.
    assert (gc.isenabled(), sys.getswitchinterval()) == (collecting, interval)
    with tenant_context(tenant):
        run.refresh_from_db()
        assert (run.status, run.payments_done, run.auto_applied) == ("done", 12, 12)
        assert Application.objects.count() == 12
        assert set(Payment.objects.values_list("status", flat=True)) == {"applied"}


def test_a_run_that_fails_says_why_keeps_nothing_half_done_and_the_next_run_takes_over(tenant):
    _, invoices = ledger(tenant, 4)
    with tenant_context(tenant):
        import_credits([Credit(f"R{i}", inv.amount, payer="Wayne Enterprises", invoices=((inv.number, inv.amount),))
                        for i, inv in enumerate(invoices)])
        run = matching_run_create()
        second_payment = Payment.objects.order_by("pk").values_list("pk", flat=True)[1]
    collecting, interval = gc.isenabled(), sys.getswitchinterval()
    # The run takes payments in id order, one application each: the third application is refused.
    with applications_refused_after(second_payment), pytest.raises(Exception, match="disk full"):
        matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=2)
    assert (gc.isenabled(), sys.getswitchinterval()) == (collecting, interval)  # handed back on failure too
    with tenant_context(tenant):
        run.refresh_from_db()
        assert run.status == "failed" and "disk full" in run.error
        # The first chunk committed whole; the second left nothing behind.
        assert (run.payments_done, Application.objects.count()) == (2, 2)
        assert Payment.objects.filter(status="applied").count() == 2
        second = matching_run_create()
    second = matching_run_execute(tenant_id=tenant.pk, run_id=second.pk)
    assert (second.status, second.auto_applied) == ("done", 2)


# --- one run at a time per tenant -------------------------------------------------------------------------

def _pretend_running(tenant, run, heartbeat_at=None):
    """The state a worker leaves a run in while it executes (or when it was killed)."""
    with tenant_context(tenant):
        MatchingRun.objects.filter(pk=run.pk).update(
            status="running", **({"heartbeat_at": heartbeat_at} if heartbeat_at else {}))


def test_a_request_while_a_run_is_running_queues_one_run_behind_it_which_starts_when_it_ends(tenant):
    from django.db import IntegrityError, transaction

    from cashapp.services import matching_run_enqueue

    _, invoices = ledger(tenant, 2)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
        first = matching_run_create()
    _pretend_running(tenant, first)
    with tenant_context(tenant):
        # A payment arrives while the first run is running; a clerk and an import ask for a run.
        import_credits([Credit("R1", invoices[1].amount, payer="Wayne Enterprises",
                               invoices=((invoices[1].number, invoices[1].amount),))])
        queued = matching_run_enqueue(trigger="manual")
    with tenant_context(tenant):
        joined = matching_run_create(trigger="import")
        assert joined.pk == queued.pk != first.pk
        # Its task ran (in-process here) and left it waiting behind the running run.
        assert MatchingRun.objects.get(pk=queued.pk).status == "queued"
        with pytest.raises(IntegrityError), transaction.atomic():
            MatchingRun.objects.create(trigger="manual")  # the database refuses a second queued run
    assert matching_run_execute(tenant_id=tenant.pk, run_id=queued.pk).status == "queued"

    matching_run_execute(tenant_id=tenant.pk, run_id=first.pk)  # ends, and starts the queued run

    with tenant_context(tenant):
        assert list(MatchingRun.objects.order_by("pk").values_list("status", flat=True)) == ["done", "done"]
        assert Application.objects.count() == 2
        assert set(Payment.objects.values_list("status", flat=True)) == {"applied"}


def test_an_answer_the_ledger_overtook_is_neither_posted_nor_suggested(tenant, member_factory):
    """Matched on a snapshot, committed after a clerk settled the invoice with another payment: the posting is
    refused, and as no answer fits the ledger as it is now, the payment is left unmatched, not suggested."""
    from cashapp.matching import match_payments
    from cashapp.matching.engine import MatchIndex
    from cashapp.records import customer_records, match_settings, open_invoice_records, payment_records
    from cashapp.services import payment_apply
    from cashapp.services.runs import _commit_chunk, _MatchedChunk

    clerk = member_factory(tenant)
    _, [invoice] = ledger(tenant, 1)
    with tenant_context(tenant):
        import_credits([Credit("RUN", invoice.amount, payer="Wayne Enterprises",
                               invoices=((invoice.number, invoice.amount),)), Credit("CLERK", invoice.amount)])
        run = matching_run_create()
        payment = Payment.objects.get(bank_reference="RUN")
        index = MatchIndex.build(customer_records(), open_invoice_records())
        [decision] = match_payments(payment_records([payment.pk]), index, match_settings())
        assert decision.outcome == "auto"
        payment_apply(payment=Payment.objects.get(bank_reference="CLERK"), actor=clerk, allocations=[{
            "invoice_id": invoice.pk, "invoice_number": invoice.number, "applied": str(invoice.amount)}])
    _pretend_running(tenant, run)

    assert _commit_chunk(tenant.pk, run.pk, _MatchedChunk([payment.pk], [decision], {payment.pk: ""}))

    with tenant_context(tenant):
        assert not Suggestion.objects.filter(payment=payment).exists()
        match = PaymentMatch.objects.get(payment=payment)
        assert match.outcome == MatchOutcome.UNMATCHED
        assert "not posted: invoice INV-001000 has 0.00 open" in match.explanation
        assert "nothing suggested" in match.explanation
        assert Payment.objects.get(pk=payment.pk).status == "unapplied"


# --- runs that end --------------------------------------------------------------------------------------

def test_a_run_without_heartbeat_is_failed_with_its_reason_and_the_queued_run_takes_over(tenant, settings,
                                                                                         member_factory,
                                                                                         verified_client):
    from datetime import timedelta

    from django.utils import timezone

    from cashapp.services import matching_runs_reap
    from cashapp.tasks import reap_stale_runs_all_tenants
    from o2c.models import AuditEvent

    settings.O2C_MATCHING_RUN_STALE_SECONDS = 60
    _, invoices = ledger(tenant, 2)
    with tenant_context(tenant):
        import_credits([Credit(f"R{i}", inv.amount, payer="Wayne Enterprises", invoices=((inv.number, inv.amount),))
                        for i, inv in enumerate(invoices)])
        dead = matching_run_create()
    _pretend_running(tenant, dead, heartbeat_at=timezone.now())
    with tenant_context(tenant):
        behind = matching_run_create()  # queued behind the running run
    _pretend_running(tenant, dead, heartbeat_at=timezone.now() - timedelta(seconds=59))
    with tenant_context(tenant):
        assert matching_runs_reap() == []  # 59 s without a beat: still alive
    last_beat = timezone.now() - timedelta(seconds=61)
    _pretend_running(tenant, dead, heartbeat_at=last_beat)

    reap_stale_runs_all_tenants.delay()  # what beat sends every minute (run in-process here)

    with tenant_context(tenant):
        dead.refresh_from_db()
        assert dead.status == "failed" and dead.finished_at
        assert dead.error == f"worker stopped responding; last heartbeat at {last_beat:%Y-%m-%d %H:%M:%S} UTC"
        assert AuditEvent.objects.get(action="matching_run.failed", object_id=dead.pk).changes == {
            "error": [None, dead.error]}
        behind.refresh_from_db()
        assert (behind.status, behind.auto_applied) == ("done", 2)  # started by the reaper, resumed the rest
    client = verified_client(member_factory(tenant))
    page = client.get(f"/cash-application/runs/{dead.pk}/").content.decode()
    assert "hx-trigger" not in page and "worker stopped responding" in page


def test_a_request_for_a_run_reaps_a_dead_one_instead_of_queueing_behind_it_forever(tenant, settings):
    from datetime import timedelta

    from django.utils import timezone

    from cashapp.services import matching_run_enqueue

    settings.O2C_MATCHING_RUN_STALE_SECONDS = 60
    _, invoices = ledger(tenant, 1)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
        dead = matching_run_create()
    _pretend_running(tenant, dead, heartbeat_at=timezone.now() - timedelta(hours=2))
    with tenant_context(tenant):
        run = matching_run_enqueue(trigger="manual")
    with tenant_context(tenant):
        assert MatchingRun.objects.get(pk=dead.pk).status == "failed"
        assert MatchingRun.objects.get(pk=run.pk).status == "done"
        assert Payment.objects.get().status == "applied"


def test_apply_cash_waits_for_the_running_run_and_then_runs_its_own(tenant, capsys):
    """One run per tenant: the command queues its run behind the running one, waits for it to end, and then
    matches in this process (before, it returned with its run queued and nothing matched)."""
    import threading
    import time

    from django.db import connections
    from django.utils import timezone

    _, invoices = ledger(tenant, 1)
    with tenant_context(tenant):
        import_credits([Credit("R0", invoices[0].amount, payer="Wayne Enterprises",
                               invoices=((invoices[0].number, invoices[0].amount),))])
        running = matching_run_create()
    _pretend_running(tenant, running, heartbeat_at=timezone.now())
    outcome = {}

    def command():
        try:
            call_command("apply_cash", tenant=tenant.slug)
            outcome["ok"] = True
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=command)
    thread.start()
    deadline = time.monotonic() + 30
    with tenant_context(tenant):
        while not MatchingRun.objects.filter(status="queued").exists():  # the command's run, behind `running`
            assert time.monotonic() < deadline, "the command never queued its run"
            time.sleep(0.05)
        MatchingRun.objects.filter(pk=running.pk).update(status="done")  # the other run ends
    thread.join(timeout=60)
    assert outcome == {"ok": True}
    assert "1 applied automatically, 0 waiting for a clerk, 0 unmatched" in capsys.readouterr().out
    with tenant_context(tenant):
        assert Payment.objects.get().status == "applied"
        assert MatchingRun.objects.filter(status="queued").count() == 0
