"""Matching runs: the tenant's unapplied payments matched, and the answers posted or suggested, chunk by chunk.

A run processes the tenant's unapplied payments in chunks. Each chunk is one transaction: match, post
the confident answers, store the uncertain ones as suggestions (only those that still fit the ledger as it
is then), record every decision, move the run's cursor. A run cut off (a worker killed, a deploy) resumes
after its last committed chunk when its task is redelivered, or, if no worker takes it up before its
heartbeat goes stale, is failed by the reaper and the next run takes up the rest; because the postings and
the cursor commit together, no payment is posted twice and none is lost. One run per tenant runs at a time
(see "runs" below).

The matcher and the writer work at once: the writer commits a chunk while the matcher matches the next. For a
small run the writer is a thread; for a big one, a forked process, so that its Python does not take turns with
the matcher's at one interpreter (`_chunk_writer`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import logging
import multiprocessing
import os
import queue
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from o2c.bulk import bulk_cursor, pg_array
from o2c.citus import returning_on_citus
from o2c.errors import ConflictError
from o2c.ledger.posting import Line, Posting, post
from o2c.models import Customer
from o2c.runtime import interpreter_tuned_for_bulk_work
from o2c.services.audit import audit_event
from o2c.tenancy import current_tenant_id, tenant_context
from payments.models import Payment, PaymentStatus

from .. import warm as warm_index
from ..matching import AUTO, SUGGEST, UNMATCHED, Allocation, Decision, MatchIndex, Proposal, match_payments
from ..models import (
    ApplicationSource,
    CashAppSettings,
    MatchingRun,
    MatchOutcome,
    PaymentMatch,
    RunStatus,
    SuggestionStatus,
)
from ..records import match_settings, payment_records
from ..scopes import RunScope
from ..standing import invoice_open_balances, suggestion_fits
from ._shared import _record_matches, _send_receipts_after_commit

log = logging.getLogger(__name__)

CHUNK_SIZE = 5000  # per transaction: measured 44 s (2,000), 40 s (5,000), 38 s (10,000) for 100k payments
# A clerk's decision stands: payments a clerk rejected, applied or confirmed are not re-matched by runs.
CLERK_OUTCOMES = (MatchOutcome.REJECTED, MatchOutcome.MANUAL, MatchOutcome.CONFIRMED)


_CONFIDENCES: dict[float, Decimal] = {}  # at most 1,001 values; a run asks for ~200k


def _confidence(value: float | None) -> Decimal | None:
    if value is None:
        return None
    key = round(min(max(value, 0.0), 1.0), 3)
    found = _CONFIDENCES.get(key)
    if found is None:
        found = _CONFIDENCES[key] = Decimal(str(key))
    return found


def _eligible_payments():
    """Unapplied payments no clerk has decided on: what a run looks at."""
    decided = PaymentMatch.objects.filter(outcome__in=CLERK_OUTCOMES).values("payment_id")
    return Payment.objects.filter(status=PaymentStatus.UNAPPLIED).exclude(pk__in=decided)


# --- runs ------------------------------------------------------------------------------------------
#
# One run at a time per tenant. A request for a run (an import, a clerk's "Run matching now", `apply_cash`)
# joins the tenant's queued run, or queues a new one; a queued run starts once no run of the tenant is
# running, and a run that ends (done, failed, or reaped as dead) starts the queued one. The database holds
# the rule: MatchingRun's partial unique constraint allows one queued and one running run per tenant, so two
# runs never match the same payments at once. A queued run lists the payments when it starts, not when it was
# asked for, so whatever arrived while another run was running is matched by it: nothing waits for nothing.

RUN_QUEUED_ONCE = "matching_run_one_queued_one_running"
_CONSTRAINT_IN_MESSAGE = re.compile(r'constraint "([^"]+)"')


@transaction.atomic
def matching_run_create(*, trigger: str = "manual", bank_file=None, actor=None,
                        scope: RunScope | None = None) -> MatchingRun:
    """Ask for a run of the waiting payments in `scope` (all of them by default); returns the queued run that will
    do it: the tenant's queued run (joined, its scope widened to take this request's in) or a new one. It starts
    when the tenant's running run, if any, ends. The caller executes it (`matching_run_execute`)."""
    return _run_requested(trigger, bank_file, actor, scope or RunScope.all())[0]


@transaction.atomic
def matching_run_enqueue(*, trigger: str = "manual", bank_file=None, actor=None,
                         scope: RunScope | None = None) -> MatchingRun:
    """Ask for a run (see `matching_run_create`) and have a worker start it once the caller's transaction
    commits. A joined run has its task already, unless the dead run it waited behind was reaped just now."""
    from ..tasks import matching_run_execute_task

    run, created, reaped = _run_requested(trigger, bank_file, actor, scope or RunScope.all())
    if created or reaped:
        tenant_id = current_tenant_id()
        transaction.on_commit(lambda: matching_run_execute_task.delay(tenant_id, run.pk))
    return run


def _run_requested(trigger: str, bank_file, actor, scope: RunScope) -> tuple[MatchingRun, bool, bool]:
    """(the queued run, whether this request created it, whether a dead run was reaped first)."""
    reaped = bool(_reap_stale_runs())  # a dead run must not hold the tenant's runs up any longer
    for _ in range(3):
        run = MatchingRun.objects.select_for_update().filter(status=RunStatus.QUEUED).first()
        if run is not None:
            if not run.run_scope.covers(scope):
                # Locked, and still queued: the run has not listed its payments yet, so it takes these in too.
                run.scope = run.run_scope.union(scope).to_json()
                run.payments_total = _run_payments(run).count()
                run.save(update_fields=["scope", "payments_total"])
            return run, False, reaped
        try:
            with transaction.atomic():  # a savepoint: the constraint may refuse a second queued run
                run = MatchingRun.objects.create(trigger=trigger, bank_file=bank_file, scope=scope.to_json(),
                                                 requested_by=actor if getattr(actor, "pk", None) else None)
        except IntegrityError as exc:
            if not _refused_by(exc, RUN_QUEUED_ONCE):
                raise
            continue  # another request queued one meanwhile (we waited for it to commit): join that one
        run.payments_total = _run_payments(run).count()
        run.save(update_fields=["payments_total"])
        return run, True, reaped
    raise ConflictError("matching runs are being requested too fast for this tenant; try again")


def _refused_by(exc: IntegrityError, constraint: str) -> bool:
    """Whether `constraint` refused the row. On Citus a shard's constraint refuses it on a worker: the error the
    coordinator passes on names it only in its message, with the shard's id appended
    (matching_run_one_queued_one_running_102251)."""
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is None:
        found = _CONSTRAINT_IN_MESSAGE.search(getattr(diag, "message_primary", None) or "")
        name = found.group(1) if found else ""
    return name == constraint or (name.startswith(f"{constraint}_") and name[len(constraint) + 1:].isdigit())


def _run_payments(run: MatchingRun):
    """The waiting payments within the run's scope: an import's run looks at that file's payments only; the
    waiting payments from earlier files are looked at again by retries, when something relevant to them changed
    (`matching_retry`), and by the nightly retry of everything."""
    return _eligible_payments().filter(run.run_scope.filter())


def matching_after_import(bank_file) -> MatchingRun | None:
    """Called by the bank-file import inside its transaction: match the file's payments (and those its remittance
    advice explains) once the file has committed."""
    if not _matching_automatically():
        return None
    if not (bank_file.payments_created or bank_file.remittances_linked):
        return None
    return matching_run_enqueue(trigger="import", bank_file=bank_file, scope=RunScope.of(bank_files=[bank_file.pk]))


def _matching_automatically() -> bool:
    settings = CashAppSettings.objects.first()
    return settings is None or settings.match_after_import


# --- retries ----------------------------------------------------------------------------------------
#
# A waiting payment (suggested, unmatched, or not looked at yet) is matched again when something that could
# change its answer arrives: invoices of its identified payer (imported, re-billed, reopened by a reversal), an
# alias or a bank account that could name a payer not identified yet, a clerk's rejection of one of its
# suggestions (the rest are re-ranked without it); and every night, all of them. A retry that reaches the
# payment's pending decision again leaves it as it is (`_record_decisions`): retrying does not churn the queue.

@transaction.atomic
def matching_retry(*, scope: RunScope, trigger: str) -> MatchingRun | None:
    """Ask for a run of the waiting payments in `scope`, unless none waits (then no run, None) or the tenant
    turned automatic matching off. Joins the queued run like any request."""
    if scope.empty or not _matching_automatically():
        return None
    if not _eligible_payments().filter(scope.filter()).exists():
        return None
    return matching_run_enqueue(trigger=trigger, scope=scope)


def matching_retry_after_commit(*, scope: RunScope, trigger: str) -> None:
    """`matching_retry` once the caller's transaction has committed, in a transaction of its own: the caller
    (a clerk's rejection, an invoice import, a ledger reversal) neither waits on the queued run's lock nor fails
    with the request. A retry lost to a process dying right after the commit is made up by the nightly one."""
    tenant_id = current_tenant_id()

    def request():
        with tenant_context(tenant_id):
            matching_retry(scope=scope, trigger=trigger)

    transaction.on_commit(request, robust=True)


def matching_retry_for_customers(customer_ids, *, trigger: str) -> None:
    """New or changed invoices of these customers: retry the waiting payments whose identified payer is one of
    them or a parent paying for them (the matcher reads a parent's payment against its subsidiaries' invoices)."""
    customer_ids = set(customer_ids)
    if not customer_ids:
        return
    payers = set(_eligible_payments().filter(customer_id__isnull=False).values_list("customer_id", flat=True)
                 .distinct())
    affected = payers & customer_ids
    parents = payers - affected
    if parents:
        affected |= set(Customer.objects.filter(pk__any=sorted(parents), children__pk__any=sorted(customer_ids))
                        .values_list("pk", flat=True))
    if affected:
        matching_retry_after_commit(scope=RunScope.of(customers=affected), trigger=trigger)


def matching_run_execute(*, tenant_id: int, run_id: int, chunk_size: int = CHUNK_SIZE) -> MatchingRun:
    """Run (or resume) a matching run to its end. Must be called outside any transaction: each chunk
    commits on its own. A queued run waits while another run of the tenant is running: it is returned as
    it is, still queued, and the running run starts it when it ends. Safe to call twice concurrently: chunks
    serialise on the run's row lock and each skips what the run's cursor says is done."""
    if connection.in_atomic_block:
        raise RuntimeError("matching_run_execute commits chunk by chunk; call it outside a transaction")
    # The set-up too: the index's millions of objects are made with the collector off and are freed by reference
    # counting when _execute returns, before the collector is back. (Built with it on, the first collections
    # after the build walked them all: 1.7 s of a 100k run.)
    with interpreter_tuned_for_bulk_work():
        return _execute(tenant_id, run_id, chunk_size)


def matching_run_complete(*, tenant_id: int, run_id: int, chunk_size: int = CHUNK_SIZE, on_wait=None,
                          poll_seconds: float = 0.5) -> MatchingRun:
    """Execute a run to its end in this process, first waiting for the tenant's running run if there is one:
    what `apply_cash` means by "now". When the running run ends, the queued run is started here, or joined if a
    worker started it first (two executors of one run share its chunks). A dead running run does not hold it up
    for ever: each poll runs the reaper, which fails it once its heartbeat is stale. `on_wait(run)` is told
    each time the run is still waiting."""
    while True:
        run = matching_run_execute(tenant_id=tenant_id, run_id=run_id, chunk_size=chunk_size)
        if run.status != RunStatus.QUEUED:
            return run
        if on_wait is not None:
            on_wait(run)
        time.sleep(poll_seconds)  # a command waiting on another process's run: nothing to be notified by
        with tenant_context(tenant_id), transaction.atomic():
            matching_runs_reap()


def _execute(tenant_id: int, run_id: int, chunk_size: int) -> MatchingRun:
    run = _run_begin(tenant_id, run_id)
    if run.status != RunStatus.RUNNING:
        return run  # ended already, or queued behind the running run, which starts it when it ends
    try:
        # Forked before the heartbeat thread starts and before the index is built: the writer process starts
        # small, with one thread.
        writer = _chunk_writer(tenant_id, run, chunk_size)
        with _heartbeat(tenant_id, run_id):
            try:
                settings, warm, ids = _run_setup(tenant_id, run)
                _match_and_commit(tenant_id, ids, warm.index, settings, chunk_size, writer)
            except BaseException:
                writer.close(raise_error=False)  # what was matched before the failure still commits, in order
                raise
            writer.close()
        # Only an index whose run ended well is kept (see cashapp.warm): on a failure it is dropped with the run.
        warm_index.checkin(tenant_id, warm)
    except Exception as exc:
        # The run ends here, saying why; what it committed stays, and the next run takes up the rest. (A worker
        # killed outright never gets here: its heartbeat stops and the reaper fails the run, unless the
        # redelivered task resumes it first.)
        _run_failed(tenant_id, run_id, exc)
        raise
    return _run_finish(tenant_id, run_id)


def _run_begin(tenant_id: int, run_id: int) -> MatchingRun:
    """Start a queued run if no run of the tenant is running, or resume a running one (a redelivered task)."""
    with tenant_context(tenant_id):
        run = MatchingRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.QUEUED and MatchingRun.objects.filter(status=RunStatus.RUNNING).exists():
            log.info("matching run %s of tenant %s waits behind the running run", run_id, tenant_id)
            return run
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            run.start()
            run.started_at = run.started_at or timezone.now()
            run.heartbeat_at = timezone.now()
            run.save()
        return run


def _run_setup(tenant_id: int, run: MatchingRun):
    """(settings, warm index, payment ids): the matcher's snapshot and what is left for this run to look at.
    The index is the one this worker kept from the tenant's last run, refreshed from the rows changed since,
    or, the first time, built from the whole open ledger (see cashapp.warm)."""
    with tenant_context(tenant_id):
        settings = match_settings()
        warm = warm_index.checkout()
        ids = list(_run_payments(run).filter(pk__gt=run.last_payment_id).order_by("pk")
                   .values_list("pk", flat=True))
        # Counted now: a run that waited in the queue looks at what is unapplied when it starts.
        MatchingRun.objects.filter(pk=run.pk).update(payments_total=run.payments_done + len(ids))
    return settings, warm, ids


def _run_finish(tenant_id: int, run_id: int) -> MatchingRun:
    with tenant_context(tenant_id):
        run = MatchingRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return run
        run.finish()
        run.finished_at = timezone.now()
        run.save()
        audit_event("matching_run.finished", run, {
            "auto_applied": [None, run.auto_applied], "suggested": [None, run.suggested],
            "unmatched": [None, run.unmatched]}, actor=run.requested_by)
        _start_queued_run_after_commit()
        log.info("matching run %s of tenant %s done: %s auto, %s suggested, %s unmatched", run.pk,
                 tenant_id, run.auto_applied, run.suggested, run.unmatched)
        return run


def _run_failed(tenant_id: int, run_id: int, exc: Exception) -> None:
    with tenant_context(tenant_id):
        run = MatchingRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.RUNNING:
            _fail(run, f"{type(exc).__name__}: {exc}"[:2000])
            _start_queued_run_after_commit()
    log.exception("matching run %s of tenant %s failed", run_id, tenant_id)


def _fail(run: MatchingRun, reason: str) -> None:
    run.fail(reason)
    run.finished_at = timezone.now()
    run.save()
    audit_event("matching_run.failed", run, {"error": [None, reason]}, actor=run.requested_by)


def _start_queued_run_after_commit() -> None:
    """Hand the tenant's queued run to a worker once this transaction has committed. The queued run is looked
    up after the commit: a run queued while this one was ending is either found here or, queued after the
    look-up, finds no run running when its own task starts. Either way it starts."""
    from ..tasks import matching_run_execute_task

    tenant_id = current_tenant_id()

    def start():
        with tenant_context(tenant_id):
            run_id = MatchingRun.objects.filter(status=RunStatus.QUEUED).values_list("pk", flat=True).first()
        if run_id is not None:
            matching_run_execute_task.delay(tenant_id, run_id)

    # robust: with tasks run in-process (no broker), the queued run's own failure is its own, not this run's
    transaction.on_commit(start, robust=True)


# --- runs that end: heartbeat and reaper ------------------------------------------------------------

def _stale_before():
    return timezone.now() - timedelta(seconds=django_settings.O2C_MATCHING_RUN_STALE_SECONDS)


@contextmanager
def _heartbeat(tenant_id: int, run_id: int):
    """Stamp the run's heartbeat from a thread of its own while it executes, so that a long set-up or chunk is
    not taken for a dead worker. Cheap: one UPDATE every quarter of the staleness (15 minutes by default);
    each committed chunk stamps it too. A killed worker's threads die with it, and its run goes stale."""
    stop = threading.Event()
    every = max(django_settings.O2C_MATCHING_RUN_STALE_SECONDS / 4, 0.25)
    thread = threading.Thread(target=_beat_until, args=(stop, every, tenant_id, run_id),
                              name=f"matching-run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _beat_until(stop: threading.Event, every: float, tenant_id: int, run_id: int) -> None:
    try:
        while not stop.wait(every):
            try:
                with tenant_context(tenant_id):
                    MatchingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
                        heartbeat_at=timezone.now())
            except Exception:  # a missed beat is no failure: the run is taken for dead only after four
                log.exception("heartbeat of matching run %s of tenant %s failed", run_id, tenant_id)
    finally:
        connections.close_all()  # this thread's own connection


@transaction.atomic
def matching_runs_reap() -> list[MatchingRun]:
    """Fail the tenant's running runs whose heartbeat is older than `O2C_MATCHING_RUN_STALE_SECONDS` (their
    worker was killed and no worker took the task up again within the visibility timeout) and start the queued
    run. What a dead run committed stays; the next run looks at every payment still unapplied, so it resumes
    the rest and posts nothing twice. Celery beat calls this for every tenant; each request for a run too."""
    reaped = _reap_stale_runs()
    running = MatchingRun.objects.filter(status=RunStatus.RUNNING).exists()
    waiting = (MatchingRun.objects.select_for_update(skip_locked=True)
               .filter(status=RunStatus.QUEUED, heartbeat_at__lt=_stale_before()).first())
    if waiting is not None and not running:
        # Its task was lost (a process died between the commit and the enqueue): start it again, once a period.
        waiting.heartbeat_at = timezone.now()
        waiting.save(update_fields=["heartbeat_at"])
    if reaped or (waiting is not None and not running):
        _start_queued_run_after_commit()
    return reaped


def _reap_stale_runs() -> list[MatchingRun]:
    # SKIP LOCKED: a run whose row is locked is committing a chunk right now, so it is alive.
    stale = list(MatchingRun.objects.select_for_update(skip_locked=True)
                 .filter(status=RunStatus.RUNNING, heartbeat_at__lt=_stale_before()))
    for run in stale:
        _fail(run, f"worker stopped responding; last heartbeat at {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC")
        log.warning("matching run %s of tenant %s failed: no heartbeat since %s", run.pk, run.tenant_id,
                    run.heartbeat_at)
    return stale


def _match_and_commit(tenant_id: int, ids: list[int], index: MatchIndex, settings, chunk_size: int,
                      writer: _ChunkWriter | _ProcessWriter) -> None:
    # No collections during the run: the matcher makes no reference cycles (tests/test_matching.py holds it to
    # that) and a 100k run through the writer left none either (measured), while any collection would walk the
    # index's millions of objects, which sit in the young generation since the collector is off (0.7 s each).
    # The collector comes back, and takes what there is, when the run ends. The caller closes the writer.
    for start, end in _chunk_bounds(len(ids), chunk_size):
        chunk = ids[start:end]
        with tenant_context(tenant_id):
            records = payment_records(chunk)
        decisions = match_payments(records, index, settings)
        if not writer.put(_MatchedChunk(chunk, decisions, {r.id: r.text[:300] for r in records})):
            break  # the run was stopped or finished by someone else


EDGE_PIECES = 4  # the run's first and last chunks are matched and written in this many pieces (when big enough)
MIN_EDGE_PIECE = 500


def _chunk_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk of `n` payments. The writer waits for the matcher's first chunk before it can
    start, and the run waits for the writer's last chunk once everything is matched: a chunk's time each (about a
    second for 5,000 payments, at either end). So the first and the last chunk's worth go in pieces: the writer
    starts after a quarter-chunk, and only the last piece is waited for."""
    bounds = _pieces(0, n, size)
    piece = size // EDGE_PIECES
    if len(bounds) < 2 or piece < MIN_EDGE_PIECE:
        return bounds
    (head_start, head_end), *middle, (tail_start, tail_end) = bounds
    return [*_pieces(head_start, head_end, piece), *middle, *_pieces(tail_start, tail_end, piece)]


def _pieces(start: int, end: int, piece: int) -> list[tuple[int, int]]:
    return [(s, min(s + piece, end)) for s in range(start, end, piece)]


@dataclass
class _MatchedChunk:
    ids: list[int]
    decisions: list
    texts: dict[int, str]

    def packed(self) -> tuple:
        """The chunk as plain tuples, for the writer process's pipe: what the writer reads of each decision, without
        the evidence and extras it does not. Pickled as dataclasses, a 100k run's decisions cost the matcher 1.2 s
        to send and the writer up to 3 s to take in (each object rebuilt through `__setstate__`); as tuples, a
        fraction of that."""
        return self.ids, [_packed_decision(d) for d in self.decisions], self.texts

    @classmethod
    def unpacked(cls, packed: tuple) -> _MatchedChunk:
        ids, decisions, texts = packed
        return cls(ids, [_unpacked_decision(d) for d in decisions], texts)


def _packed_decision(d: Decision) -> tuple:
    return d.payment_id, d.outcome, d.customer_id, d.explanation, tuple(
        (p.customer_id, tuple((a.invoice_id, a.invoice_number, a.applied, a.discount, a.deduction, a.deduction_reason,
                               a.write_off) for a in p.allocations), p.on_account, p.confidence, p.explanation)
        for p in d.proposals)


def _unpacked_decision(packed: tuple) -> Decision:
    payment_id, outcome, customer_id, explanation, proposals = packed
    return Decision(payment_id, outcome, tuple(
        Proposal(customer, tuple(Allocation(*a) for a in allocations), on_account, confidence, why)
        for customer, allocations, on_account, confidence, why in proposals), customer_id, explanation)


def _chunk_writer(tenant_id: int, run: MatchingRun, chunk_size: int) -> _ChunkWriter | _ProcessWriter:
    """A process for a big run (its Python then runs beside the matcher's); a thread for a small one, where a
    fork and a second connection would cost more than they save (an intraday file's run takes milliseconds)."""
    pending = run.payments_total - run.payments_done
    if pending > max(chunk_size, django_settings.O2C_MATCHING_WRITER_PROCESS_FROM):
        return _ProcessWriter(tenant_id, run.pk)
    return _ChunkWriter(tenant_id, run.pk)


class _ChunkWriter:
    """Commits matched chunks on its own connection while the caller matches the next one, so Postgres
    writes on one core while Python matches on the other. Chunks commit one at a time, in order, each with
    the run's cursor; after a failure the rest are dropped and `close()` raises it."""

    def __init__(self, tenant_id: int, run_id: int) -> None:
        self.tenant_id, self.run_id = tenant_id, run_id
        self.error: BaseException | None = None
        self.stopped = False
        # One chunk waiting at most: the matcher stays a chunk ahead, never further (memory stays flat).
        self.queue: queue.Queue[_MatchedChunk | None] = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._loop, name=f"matching-run-{run_id}-writer", daemon=True)
        self.thread.start()

    def put(self, chunk: _MatchedChunk) -> bool:
        if self.error is not None:
            raise self.error
        if self.stopped:
            return False
        self.queue.put(chunk)  # never blocks for long: the loop keeps taking chunks, even after a failure
        return True

    def close(self, raise_error: bool = True) -> None:
        self.queue.put(None)
        self.thread.join()
        if raise_error and self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while (chunk := self.queue.get()) is not None:
                if self.error is None and not self.stopped:
                    try:
                        self.stopped = not _commit_chunk(self.tenant_id, self.run_id, chunk)
                    except BaseException as exc:  # handed to the matching thread by put() and close()
                        self.error = exc
        finally:
            connections.close_all()  # this thread's own connection


class WriterProcessFailed(RuntimeError):
    """The writer process failed or died; the message is its error, as it said it."""


class _ProcessWriter:
    """A `_ChunkWriter` in a forked process: the same chunks, committed the same way, in order, one at a time.

    With the writer in a thread, its Python (posting, recording, the follow-up tasks that run in-process when no
    broker is configured) took turns at the interpreter with the matcher, so on a big run the two added up. In
    a process of its own it runs beside the matcher, and Postgres on whatever core is left. The matcher stays
    at most one chunk ahead: a chunk is handed over through a pipe, which blocks until the writer reads it.

    The fork happens before the index is built and before any other thread of the run starts. The child never
    uses, nor closes, the connections it inherited (closing would end the parent's sessions): it keeps them
    and opens its own. It ends when the parent says so, or when the parent dies (its pipe closes); a writer that
    dies leaves the parent a closed pipe, which fails the run like a writer error."""

    def __init__(self, tenant_id: int, run_id: int) -> None:
        context = multiprocessing.get_context("fork")
        chunks_in, self._chunks_out = context.Pipe(duplex=False)  # (receiving end, sending end)
        self._results_in, results_out = context.Pipe(duplex=False)
        self.process = context.Process(target=_writer_main, name=f"matching-run-{run_id}-writer",
                                       args=(tenant_id, run_id, os.getpid(), chunks_in, results_out,
                                             self._chunks_out, self._results_in), daemon=True)
        self.process.start()
        chunks_in.close()
        results_out.close()
        log.info("matching run %s of tenant %s posts from writer process %s", run_id, tenant_id, self.process.pid)
        self.error: str | None = None
        self.stopped = False

    def put(self, chunk: _MatchedChunk) -> bool:
        self._read_results(wait=False)
        if self.error is None and not self.stopped:
            try:
                self._chunks_out.send(chunk.packed())
            except (BrokenPipeError, OSError):
                self._read_results(wait=True)
                self.error = self.error or "the writer process ended unexpectedly"
        if self.error is not None:
            raise WriterProcessFailed(self.error)
        return not self.stopped

    def close(self, raise_error: bool = True) -> None:
        try:
            self._chunks_out.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._chunks_out.close()
        self._read_results(wait=True)
        self.process.join()
        self._results_in.close()
        if self.error is None and self.process.exitcode != 0:
            self.error = f"the writer process ended with exit code {self.process.exitcode}"
        if raise_error and self.error is not None:
            raise WriterProcessFailed(self.error)

    def _read_results(self, wait: bool) -> None:
        """Take in what the writer said of the chunks it committed: nothing, "stopped", or its error. With
        `wait`, until it has said everything and closed its end."""
        while wait or self._results_in.poll():
            try:
                said = self._results_in.recv()
            except (EOFError, OSError):
                return
            if said == "stopped":
                self.stopped = True
            elif said != "ok":
                self.error = self.error or said


def _die_with_parent(parent_pid: int) -> None:
    """A worker killed mid-run takes its writer with it, mid-chunk if need be, as it would a writer thread:
    the chunk being written rolls back, and the run is resumed or reaped as for a thread. (Linux tells the child
    of its parent's death by a signal; elsewhere the child ends at the next chunk, when it finds the pipe closed.)"""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # died before the signal was asked for
        os._exit(0)


_PR_SET_PDEATHSIG = 1
_INHERITED_CONNECTIONS: list = []  # the parent's sessions, held (never closed) for as long as the child lives


def _writer_main(tenant_id: int, run_id: int, parent_pid: int, chunks_in, results_out, *parents_ends) -> None:
    _die_with_parent(parent_pid)
    for end in parents_ends:
        end.close()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED_CONNECTIONS.append(conn.connection)
            conn.connection = None
    # Collect this process's own garbage only: the objects inherited from the parent are never walked, so the
    # pages they sit on stay shared with it.
    gc.freeze()
    gc.enable()
    try:
        while True:
            try:
                chunk = chunks_in.recv()
            except EOFError:
                return  # the parent is gone: its run is taken up again by the reaper or a redelivered task
            if chunk is None:
                return
            try:
                committed = _commit_chunk(tenant_id, run_id, _MatchedChunk.unpacked(chunk))
            except BaseException as exc:  # told to the parent, which fails the run with it
                log.exception("matching run %s of tenant %s: the writer process failed", run_id, tenant_id)
                results_out.send(f"{type(exc).__name__}: {exc}")
                return
            results_out.send("ok" if committed else "stopped")
            if not committed:
                return
    finally:
        results_out.close()
        connections.close_all()


def _commit_chunk(tenant_id: int, run_id: int, chunk: _MatchedChunk) -> bool:
    """Post one chunk's decisions and move the cursor, in one transaction. False when the run is not running."""
    with tenant_context(tenant_id):
        _commit_asynchronously()
        run = MatchingRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return False
        # A clerk may have decided some of these payments while they were being matched; another executor
        # of the same run may have committed them already.
        eligible = set(_run_payments(run).filter(pk__any=chunk.ids, pk__gt=run.last_payment_id)
                       .values_list("pk", flat=True))
        decisions = [d for d in chunk.decisions if d.payment_id in eligible]
        if decisions:
            _record_decisions(run, decisions, chunk.texts)
        if chunk.ids[-1] > run.last_payment_id:
            run.payments_done += sum(1 for pid in chunk.ids if pid > run.last_payment_id)
            run.last_payment_id = chunk.ids[-1]
        run.heartbeat_at = timezone.now()
        run.save()
    return True


def _commit_asynchronously() -> None:
    """This chunk's COMMIT returns without waiting for its WAL to reach the disk (the WAL writer flushes it
    within a fraction of a second). Safe for a run's chunks: a crash of the database server can lose only the
    last chunks committed, each whole (the WAL stays in order, so nothing is half there), and each with the
    run's cursor, which then stands before them: the resumed run, or the next run, matches those payments again
    and posts them once. Nothing outside the run can have relied on a lost chunk durably: any later commit that
    waits for the disk (the run's finish, a clerk's posting, a receipt) flushes the WAL up to itself, chunks
    included. A clerk's posting, the run's begin and finish stay synchronous."""
    with connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")


def _posting_lines(proposal: Proposal, text: str = "") -> list[Line]:
    return [Line(a.invoice_id, a.applied, a.discount, a.deduction, a.deduction_reason, text, a.write_off)
            for a in proposal.allocations]


def _auto_postings(decisions: list, texts: dict[int, str]) -> list[Posting]:
    """The postings of the decisions to post (most of a chunk's: a loop, each decision's answer read once)."""
    postings = []
    for d in decisions:
        if d.outcome == AUTO and d.proposals and (best := d.proposals[0]).allocations:
            postings.append(Posting(d.payment_id, _posting_lines(best, texts[d.payment_id]), ApplicationSource.AUTO,
                                    _confidence(best.confidence), best.explanation, best.customer_id))
    return postings


def _record_decisions(run: MatchingRun, decisions: list, texts: dict[int, str]) -> None:
    """Post the confident answers, then decide every other payment against the ledger as it is now, in this
    transaction: a payment that is no longer wholly unapplied (applied by a clerk meanwhile) gets nothing
    written, and only answers that still fit become suggestions (see `cashapp.standing`). An answer a clerk
    rejected for a payment is neither posted nor suggested again. A decision equal to the payment's pending one
    (a retry that found nothing new) is left as it is: its suggestions keep their rows, ids and places in the
    clerk's queue."""
    known = _known_decisions([d.payment_id for d in decisions])
    decisions = [_without_rejected(d, known.rejected.get(d.payment_id)) for d in decisions]
    result = post(_auto_postings(decisions, texts), run_id=run.pk, partial=True)
    posted = {p.payment_id for p in result.posted}
    refused = {p.payment_id: p.refused for p in result.refused}
    ledger = _ledger_now([d for d in decisions if d.payment_id not in posted])
    matches, suggestions, customers, replaced, outcomes, unchanged = [], [], {}, [], [], 0
    for d in decisions:
        best = d.best
        if d.payment_id in posted:
            outcome, proposals, explanation = AUTO, (), d.explanation or best.explanation
        elif d.payment_id in ledger.unapplied:
            outcome, proposals, explanation = _decided_now(d, refused.get(d.payment_id), ledger)
        else:
            continue  # applied meanwhile, or being changed by a clerk right now: their decision stands
        customer_id = d.customer_id or (best.customer_id if best else None)
        if customer_id:
            customers[d.payment_id] = customer_id
        rows = [_suggestion_row(p) for p in proposals]
        match = (outcome, customer_id, _confidence(best.confidence) if best else None, explanation)
        same_suggestions = rows == known.pending.get(d.payment_id, [])
        same_match = match == known.matches.get(d.payment_id)
        if not same_suggestions:
            replaced.append(d.payment_id)
            suggestions.extend((d.payment_id, rank, *row[:3], json.dumps(row[3]), row[4])
                               for rank, row in enumerate(rows, start=1))
        if not same_match:
            matches.append((d.payment_id, *match))
        unchanged += same_suggestions and same_match
        outcomes.append(outcome)
    _supersede_pending_of(replaced)
    _insert_suggestions(suggestions, run.pk)
    _record_matches(matches, run.pk)
    _remember_payers(customers, posted)
    run.auto_applied += len(posted)
    run.suggested += outcomes.count(SUGGEST)
    run.unmatched += outcomes.count(UNMATCHED)
    run.unchanged += unchanged
    if posted:
        _send_receipts_after_commit(sorted(posted))


def _suggestion_row(p: Proposal) -> tuple:
    """(customer, confidence, explanation, allocations, on account): what a suggestion says, comparable with a
    stored one (`_known_decisions`)."""
    return (p.customer_id, _confidence(p.confidence), p.explanation, [_allocation_json(a) for a in p.allocations],
            p.on_account)


def _answer(customer_id: int | None, invoice_ids) -> tuple:
    """What a clerk rejects: this payment paying these invoices (of this customer). Amounts are left out: the
    same invoices proposed again with other amounts are still the answer the clerk turned down."""
    return customer_id, frozenset(invoice_ids)


@dataclass
class _KnownDecisions:
    pending: dict[int, list[tuple]]  # payment -> its pending suggestions in rank order, as `_suggestion_row`s
    rejected: dict[int, set[tuple]]  # payment -> the `_answer`s a clerk rejected
    matches: dict[int, tuple]  # payment -> its latest decision (outcome, customer, confidence, explanation)


def _known_decisions(payment_ids: list[int]) -> _KnownDecisions:
    known = _KnownDecisions({}, {}, {})
    if not payment_ids:
        return known
    tenant_id, ids = current_tenant_id(), pg_array(payment_ids)
    with bulk_cursor() as cur:
        cur.execute("SELECT payment_id, status, customer_id, confidence, explanation, allocations::text, on_account "
                    "FROM cashapp_suggestion WHERE tenant_id = %s AND payment_id = ANY(%s::bigint[]) "
                    "AND status = ANY(%s) ORDER BY payment_id, rank, id",
                    [tenant_id, ids, [SuggestionStatus.PENDING.value, SuggestionStatus.REJECTED.value]])
        for pid, status, customer_id, confidence, explanation, allocations, on_account in cur.fetchall():
            allocations = json.loads(allocations)
            if status == SuggestionStatus.PENDING:
                known.pending.setdefault(pid, []).append(
                    (customer_id, confidence, explanation, allocations, on_account))
            else:
                known.rejected.setdefault(pid, set()).add(
                    _answer(customer_id, (int(a["invoice_id"]) for a in allocations)))
        cur.execute("SELECT payment_id, outcome, customer_id, confidence, explanation FROM cashapp_paymentmatch "
                    "WHERE tenant_id = %s AND payment_id = ANY(%s::bigint[])", [tenant_id, ids])
        known.matches = {pid: tuple(rest) for pid, *rest in cur.fetchall()}
    return known


def _without_rejected(decision: Decision, rejected: set[tuple] | None) -> Decision:
    """The decision without the answers a clerk rejected for this payment: never posted, never suggested again."""
    if not rejected:
        return decision
    kept = tuple(p for p in decision.proposals
                 if _answer(p.customer_id, (a.invoice_id for a in p.allocations)) not in rejected)
    if len(kept) == len(decision.proposals):
        return decision
    if not kept:
        return replace(decision, outcome=UNMATCHED, proposals=(),
                       explanation="every answer found was rejected by a clerk")
    why = kept[0].explanation if len(kept) == 1 else f"{len(kept)} possible answers; best: {kept[0].explanation}"
    return replace(decision, outcome=SUGGEST, proposals=kept, explanation=why)


@dataclass
class _LedgerNow:
    unapplied: dict[int, Decimal]  # payment id -> unapplied cash, of the payments still wholly unapplied
    open_balances: dict[int, Decimal]  # invoice id -> open balance, of the invoices their answers name

    def fits(self, payment_id: int, proposal: Proposal) -> bool:
        return suggestion_fits([(a.invoice_id, a.applied, a.applied + a.discount + a.deduction + a.write_off)
                                for a in proposal.allocations], self.unapplied[payment_id], self.open_balances)


def _ledger_now(decisions: list) -> _LedgerNow:
    """The payments among these that are still wholly unapplied, locked until the chunk commits so that no
    clerk applies one under the suggestion being written, and the open balances their answers need. SKIP
    LOCKED: a payment a clerk is changing right now is left to the clerk, never waited for (no deadlock with
    the clerk's posting, which locks payments, then invoices, then suggestions); a later run sees it again."""
    if not decisions:
        return _LedgerNow({}, {})
    tenant_id = current_tenant_id()
    with bulk_cursor() as cur:
        cur.execute("SELECT id, unapplied_amount FROM payments_payment WHERE tenant_id = %s "
                    "AND id = ANY(%s::bigint[]) AND status = %s ORDER BY id FOR UPDATE SKIP LOCKED",
                    [tenant_id, pg_array(sorted(d.payment_id for d in decisions)), PaymentStatus.UNAPPLIED.value])
        unapplied = dict(cur.fetchall())
        invoice_ids = {a.invoice_id for d in decisions if d.payment_id in unapplied
                       for p in d.proposals for a in p.allocations}
        return _LedgerNow(unapplied, invoice_open_balances(cur, tenant_id, invoice_ids))


def _decided_now(decision, refusal: str | None, ledger: _LedgerNow) -> tuple[str, tuple, str]:
    """(outcome, proposals to suggest, explanation) of a payment the run did not post."""
    outcome = decision.outcome
    explanation = decision.explanation or (decision.best.explanation if decision.best else "")
    if outcome == AUTO:
        # The ledger moved since the snapshot (a clerk was faster): ask instead, if an answer still fits.
        outcome, explanation = SUGGEST, f"{explanation} (not posted: {refusal or 'nothing to apply'})"
    if outcome != SUGGEST:
        return outcome, (), explanation
    fitting = tuple(p for p in decision.proposals if ledger.fits(decision.payment_id, p))
    if fitting:
        return SUGGEST, fitting, explanation
    if decision.proposals:
        explanation = f"{explanation}; nothing suggested: the invoices no longer have that much open"
    return UNMATCHED, (), explanation


def _supersede_pending_of(payment_ids: list[int]) -> None:
    """Pending suggestions of these payments give way to the new decision: a bulk FSM move (a transition per
    row would cost a query each), joined to the ids so that Postgres probes the (tenant, payment) index or
    hashes them, instead of comparing each suggestion row with the whole list."""
    if not payment_ids:
        return
    with bulk_cursor() as cur:
        cur.execute("UPDATE cashapp_suggestion s SET status = %s FROM unnest(%s::bigint[]) AS p(id) "
                    "WHERE s.tenant_id = %s AND s.payment_id = p.id AND s.status = %s",
                    [SuggestionStatus.SUPERSEDED.value, pg_array(payment_ids), current_tenant_id(),
                     SuggestionStatus.PENDING.value])


def _insert_suggestions(rows: list[tuple], run_id: int) -> None:
    """Pending suggestions in one statement from a COPYed temporary table (thousands per chunk)."""
    if not rows:
        return
    with bulk_cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE _suggestion_in (payment_id bigint, rank smallint, customer_id bigint, "
                    "confidence numeric, explanation text, allocations jsonb, on_account numeric) ON COMMIT DROP")
        with cur.copy("COPY _suggestion_in FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "INSERT INTO cashapp_suggestion (tenant_id, payment_id, run_id, rank, customer_id, confidence, "  # noqa: S608 (a constant clause)
            "explanation, allocations, on_account, status, created_at) SELECT %s, payment_id, %s::bigint, rank, "
            "customer_id, confidence, explanation, allocations, on_account, %s::text, now() FROM _suggestion_in"
            + returning_on_citus(),
            [current_tenant_id(), run_id, SuggestionStatus.PENDING.value])
        cur.execute("DROP TABLE _suggestion_in")


def _allocation_json(a) -> dict:
    return {"invoice_id": a.invoice_id, "invoice_number": a.invoice_number, "applied": str(a.applied),
            "discount": str(a.discount), "deduction": str(a.deduction), "deduction_reason": a.deduction_reason,
            "write_off": str(a.write_off)}


def _remember_payers(customers: dict[int, int], posted: set[int]) -> None:
    """Note the identified payer on payments left unapplied, for the unapplied-cash worklist. Arrays through
    unnest(), not a joined temporary table: without statistics on the table the planner hashed it against a
    sequential scan of every payment of the tenant, once per chunk (1.0 s of a 100k run; it grows with the
    tenant's payments); from unnest() it probes the primary key for each id."""
    unposted = sorted((pid, cid) for pid, cid in customers.items() if pid not in posted)
    if not unposted:
        return
    ids, payers = zip(*unposted, strict=True)
    with bulk_cursor() as cur:
        cur.execute("UPDATE payments_payment p SET customer_id = i.customer_id "
                    "FROM unnest(%s::bigint[], %s::bigint[]) AS i(payment_id, customer_id) "
                    "WHERE p.tenant_id = %s AND p.id = i.payment_id AND p.customer_id IS NULL",
                    [pg_array(ids), pg_array(payers), current_tenant_id()])
