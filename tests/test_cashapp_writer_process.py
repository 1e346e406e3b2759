"""A big matching run posts from a forked writer process (cashapp.services.runs._ProcessWriter): the same
chunks, committed the same way, in order. Forced here on small runs with O2C_MATCHING_WRITER_PROCESS_FROM=0."""

import os
from decimal import Decimal

import pytest

from cashapp.models import Application, MatchingRun, PaymentMatch
from cashapp.services import matching_run_create, matching_run_execute, runs
from deductions.models import Deduction
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, applications_refused_after, import_credits
from tests.test_cashapp_runs import ledger, manual_runs  # noqa: F401 - the fixture applies here too

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def writers(monkeypatch):
    """The kinds of writer the runs of a test used."""
    used, real = [], runs._chunk_writer

    def spy(*args):
        writer = real(*args)
        used.append(type(writer).__name__)
        return writer

    monkeypatch.setattr(runs, "_chunk_writer", spy)
    return used


def _credits(invoices, short_last=False):
    credits = [Credit(f"R{i}", inv.amount, payer="Wayne Enterprises", invoices=((inv.number, inv.amount),))
               for i, inv in enumerate(invoices)]
    if short_last:  # paid 20.00 short of the invoice it names, with the reason: a deduction
        inv = invoices[-1]
        credits[-1] = Credit(f"R{len(invoices) - 1}", inv.amount - 20, payer="Wayne Enterprises",
                             text=f"{inv.number} less 20.00 damaged goods")
    return credits


@pytest.mark.parametrize("process_from", [0, 10**9])
def test_a_run_posts_the_same_from_a_process_as_from_a_thread(tenant, settings, writers, process_from):
    settings.O2C_MATCHING_WRITER_PROCESS_FROM = process_from
    _, invoices = ledger(tenant, 7)
    with tenant_context(tenant):
        import_credits(_credits(invoices, short_last=True)
                       + [Credit("STRANGER", "999.99", payer="Nobody We Know GmbH", text="thanks")])
        run = matching_run_create()
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=3)

    assert writers == ["_ProcessWriter" if process_from == 0 else "_ChunkWriter"]
    assert (run.status, run.payments_done, run.auto_applied, run.unmatched) == ("done", 8, 7, 1)
    with tenant_context(tenant):
        applied = dict(Application.objects.values_list("payment__bank_reference", "invoice__number"))
        assert applied == {f"R{i}": inv.number for i, inv in enumerate(invoices)}
        assert PaymentMatch.objects.count() == 8
        # The follow-ups of the commit ran where it committed (in-process tasks, no broker in tests): the short
        # pay's deduction went through its intake.
        deduction = Deduction.objects.get()
        assert (deduction.amount, deduction.intake_done) == (D("20.00"), True)
    # The parent's own connection still works after the child opened and closed its own.
    with tenant_context(tenant):
        assert Payment.objects.filter(status="applied").count() == 7


def test_a_writer_process_error_fails_the_run_with_its_message_and_keeps_whole_chunks(tenant, settings):
    settings.O2C_MATCHING_WRITER_PROCESS_FROM = 0
    _, invoices = ledger(tenant, 4)
    with tenant_context(tenant):
        import_credits(_credits(invoices))
        run = matching_run_create()
        second_payment = Payment.objects.order_by("pk").values_list("pk", flat=True)[1]
    with applications_refused_after(second_payment), pytest.raises(runs.WriterProcessFailed, match="disk full"):
        matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=2)
    with tenant_context(tenant):
        run.refresh_from_db()
        assert run.status == "failed" and "disk full" in run.error
        assert (run.payments_done, Application.objects.count()) == (2, 2)
        second = matching_run_create()
    second = matching_run_execute(tenant_id=tenant.pk, run_id=second.pk)
    assert (second.status, second.auto_applied) == ("done", 2)


def test_a_writer_process_that_dies_fails_the_run_and_the_next_run_posts_the_rest_once(tenant, settings,
                                                                                       monkeypatch):
    settings.O2C_MATCHING_WRITER_PROCESS_FROM = 0
    _, invoices = ledger(tenant, 6)
    with tenant_context(tenant):
        import_credits(_credits(invoices))
        run = matching_run_create()
    real, calls = runs._commit_chunk, []

    def dies_on_the_second_chunk(*args):  # runs in the forked child, which inherits this patch
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)  # as if killed: no error said, no cleanup
        return real(*args)

    monkeypatch.setattr(runs, "_commit_chunk", dies_on_the_second_chunk)
    with pytest.raises(runs.WriterProcessFailed):
        matching_run_execute(tenant_id=tenant.pk, run_id=run.pk, chunk_size=2)
    monkeypatch.setattr(runs, "_commit_chunk", real)
    with tenant_context(tenant):
        run.refresh_from_db()
        assert run.status == "failed" and "writer process" in run.error
        assert (run.payments_done, Application.objects.count()) == (2, 2)
        second = matching_run_create()
    second = matching_run_execute(tenant_id=tenant.pk, run_id=second.pk)
    assert (second.status, second.auto_applied) == ("done", 4)
    with tenant_context(tenant):
        assert Application.objects.count() == 6 and MatchingRun.objects.filter(status="done").count() == 1


def test_a_writer_process_ends_when_its_parent_goes_away(tenant):
    """A parent that dies closes its end of the pipe; the child then ends instead of waiting for ever."""
    with tenant_context(tenant):
        run = matching_run_create()
    writer = runs._ProcessWriter(tenant.pk, run.pk)
    writer._chunks_out.close()  # what the parent's death does to the pipe, without the parent dying
    writer.process.join(30)
    assert writer.process.exitcode == 0


@pytest.mark.parametrize("n", [1, 4999, 5000, 5001, 12000, 100000])
def test_chunks_cover_every_payment_once_in_order_and_the_first_and_last_go_in_pieces(n):
    bounds = runs._chunk_bounds(n, 5000)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:], strict=False))
    assert all(0 < end - start <= 5000 for start, end in bounds)
    if n > 5000:  # the writer starts after a quarter of a chunk, and the run waits for its last quarter only
        assert bounds[:4] == [(0, 1250), (1250, 2500), (2500, 3750), (3750, 5000)]
        assert bounds[-1][1] - bounds[-1][0] <= 1250
    assert runs._chunk_bounds(5, 2) == [(0, 2), (2, 4), (4, 5)]  # small chunks are not cut


def test_a_chunk_reaches_the_writer_process_with_all_the_writer_reads():
    """The pipe carries decisions as tuples (runs._MatchedChunk.packed): every field the writer reads comes back
    equal, money exact; only the evidence and extras, which it does not read, are left behind."""
    from cashapp.matching import AUTO, SUGGEST, Allocation, Decision, Proposal
    from cashapp.matching import evidence as ev

    allocations = (Allocation(11, "INV-11", D("90.00"), D("2.0000"), D("8.00"), "damaged", D("0.01")),
                   Allocation(12, "INV-12", D("10.50")))
    proposals = (Proposal(5, allocations, D("0.37"), 0.93, "two invoices", (ev.payer("name", 0.9),)),
                 Proposal(None, (), D("101.00"), 0.2, "on account"))
    chunk = runs._MatchedChunk([1, 2], [Decision(1, SUGGEST, proposals, 5, "2 possible answers", {"margin": 0.7}),
                                        Decision(2, AUTO, proposals[:1], None, "")], {1: "text", 2: ""})

    back = runs._MatchedChunk.unpacked(chunk.packed())

    assert (back.ids, back.texts) == (chunk.ids, chunk.texts)
    for got, sent in zip(back.decisions, chunk.decisions, strict=True):
        assert (got.payment_id, got.outcome, got.customer_id, got.explanation) == (
            sent.payment_id, sent.outcome, sent.customer_id, sent.explanation)
        assert [(p.customer_id, p.allocations, p.on_account, p.confidence, p.explanation) for p in got.proposals] == [
            (p.customer_id, p.allocations, p.on_account, p.confidence, p.explanation) for p in sent.proposals]
    assert str(back.decisions[0].proposals[0].allocations[0].discount) == "2.0000"
