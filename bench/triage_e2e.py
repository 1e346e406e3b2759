"""Triage of 10,000 new deductions from ONE large remittance, through the real path: target <= 10 s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/triage_e2e.py \
        [--deductions 10000] [--customers 1500] [--seed 13] [--db o2c_bench_triage_e2e]

Set-up (not timed, but every step is the product's own command on files this script writes):
`create_tenant` (the tenant's 6 default deduction rules), `create_user` (an owner and a finance lead),
`import_invoices` (a CSV of customers and open invoices), `triage_rules export`, then `triage_rules import`
of that file with 44 more rules (50 deduction rules in all), `import_bank_file` of ONE camt.053 statement of
10,000 credits each short-paying one invoice with words such as "price difference", "damaged", "freight",
then `apply_cash`: the ledger posts the short pays and its DeductionOpened handler inserts 10,000 deductions.

The handler hands each posted chunk's deductions to the `deductions.intake` task after the commit. Celery
runs eagerly in this process (no REDIS_URL): the benchmark holds those task calls while `apply_cash` runs
and sends them afterwards, unchanged, so the triage is timed alone. Each intake (reason codes) enqueues
`deductions.research` and `o2c.triage_run` (facts, 50 rules, TriageResults, actions applied with audit
events), which enqueue their follow-ups (document requests, notices); eagerly, each runs when the one that
enqueued it commits. Timed phase by phase (exclusive seconds), as the app role with row-level security on.

Also printed: a baseline in the same database and run (the bare SQL of the writes triage must make for 10k
deductions, rolled back), so the figure reads as a ratio on this drifting host; and the accuracy side:
exactly one TriageResult per deduction, the stored decisions equal to a pure evaluation (o2c.rules.engine)
of the facts the task read, the facts' category equal to the generator's truth for the remittance words.

The generator is this file's own (not bench/cashapp_data.py, which the matcher was tuned on).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, machine_speed, setup_django  # noqa: E402

TENANT = "bench-triage-e2e"
OWNER_EMAIL = "claims.desk@bench-triage.test"
LEAD_EMAIL = "finance.lead@bench-triage.test"

# Remittance words -> the reason code the matcher should read from them -> the standard category.
REASON_PHRASES = (
    ("price difference", "pricing"), ("price diff per contract", "pricing"), ("overcharge", "pricing"),
    ("damaged", "damaged"), ("2 cases damaged in transit", "damaged"), ("broken pallet", "damaged"),
    ("shortage", "shortage"), ("3 cartons missing", "shortage"), ("short shipped", "shortage"),
    ("freight", "freight"), ("freight not agreed", "freight"), ("shipping charge", "freight"),
    ("promo", "promotion"), ("coop allowance", "promotion"), ("rebate q3", "promotion"),
    ("returned goods", "return"), ("VAT", "tax"), ("", "short_payment"),
)
CATEGORY_OF = {"pricing": "pricing", "damaged": "damage", "shortage": "shortage", "freight": "freight",
               "promotion": "promotion", "return": "returns", "tax": "tax", "short_payment": "unknown"}
WORDS_A = ("North", "South", "Blue", "Green", "Red", "Silver", "Golden", "Iron", "Oak", "Pine", "River", "Lake",
           "Stone", "Bright", "Swift", "Grand", "Royal", "Prime", "Summit", "Harbor", "Meadow", "Cedar", "Maple",
           "Eagle", "Falcon", "Lion", "Atlas", "Apex", "Vertex", "Nova")
WORDS_B = ("Foods", "Retail", "Markets", "Grocers", "Trading", "Stores", "Wholesale", "Supply", "Distribution",
           "Brands", "Outlets", "Provisions", "Merchants", "Depot", "Pantry", "Goods", "Commerce", "Logistics")
SUFFIXES = ("Inc", "LLC", "Ltd", "Corp", "Co", "GmbH", "SA", "BV")


@dataclass(frozen=True)
class ShortPay:
    invoice: str
    customer: int
    payer: str
    invoice_amount: Decimal
    paid: Decimal
    words: str
    reason: str  # what the words say (the truth)


@dataclass
class Data:
    customers: list[tuple[str, str]]  # (external id, name)
    invoices: list[tuple]  # (number, customer index, issue date, amount)
    payments: list[ShortPay]


def generate(n: int, n_customers: int, seed: int, today: date) -> Data:
    """Customers of skewed sizes; one open invoice per short pay plus a third more left unpaid; each payment
    pays its invoice less a deduction (0.3-25 %, a few large claims) and says why, or not, in free text."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < n_customers:
        names.add(f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)} {rng.choice(SUFFIXES)} {rng.randint(1, 99)}")
    customers = [(f"C{i:05d}", name) for i, name in enumerate(sorted(names), start=1)]
    weights = [1 / (i ** 0.8) for i in range(1, n_customers + 1)]
    rng.shuffle(weights)
    invoices, payments = [], []
    unpaid = n // 3
    owners = rng.choices(range(n_customers), weights=weights, k=n + unpaid)
    for k, c in enumerate(owners, start=1):
        issued = today - timedelta(days=rng.randint(3, 200))
        amount = Decimal(f"{min(max(rng.lognormvariate(7.4, 1.1), 40), 400_000):.2f}")
        if rng.random() < 0.01:
            amount = Decimal(f"{rng.uniform(45_000, 250_000):.2f}")  # a few large orders, large claims
        number = f"INV-{k:07d}"
        invoices.append((number, c, issued, amount))
        if k > n:
            continue
        words, reason = rng.choice(REASON_PHRASES)
        share = Decimal(str(rng.choice((0.003, 0.01, 0.02, 0.05, 0.08, 0.12, 0.2, 0.25)) * rng.uniform(0.6, 1.0)))
        short = max((amount * share).quantize(Decimal("0.01")), Decimal("0.50"))
        payer = customers[c][1].upper() if rng.random() < 0.7 else customers[c][1]
        payments.append(ShortPay(number, c, payer, amount, amount - short, words, reason))
    return Data(customers, invoices, payments)


def invoice_csv(data: Data) -> bytes:
    out = ["invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
           "discount_percent,discount_due_date\n"]
    for number, c, issued, amount in data.invoices:
        ext, name = data.customers[c]
        out.append(f"{number},{ext},{name},{issued},{issued + timedelta(days=30)},{amount},USD,,,\n")
    return "".join(out).encode()


def camt053(data: Data, today: date, seed: int) -> bytes:
    """One statement, one entry per payment; the reference and the reason in the unstructured remittance."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             f"<GrpHdr><MsgId>TRIAGE-{seed}-{today:%Y%m%d}</MsgId><CreDtTm>{today}T06:00:00</CreDtTm></GrpHdr>",
             f"<Stmt><Id>TRIAGE-{seed}-{today:%Y%m%d}</Id><CreDtTm>{today}T06:00:00</CreDtTm>",
             "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>"]
    for n, p in enumerate(data.payments, start=1):
        text = f"{p.invoice} {p.words}".strip()
        parts.append(
            f'<Ntry><Amt Ccy="USD">{p.paid:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
            f"<BookgDt><Dt>{today}</Dt></BookgDt><ValDt><Dt>{today}</Dt></ValDt>"
            f"<AcctSvcrRef>TRIAGE-{seed}-{n:06d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly>"
            "<Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            f"<RltdPties><Dbtr><Pty><Nm>{escape(p.payer)}</Nm></Pty></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{escape(text)}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


# --- the 44 rules a finance lead adds to the 6 defaults --------------------------------------------

def added_rules() -> list[dict]:
    """Realistic deduction rules: categories, amount thresholds, customer segment and risk, documents,
    past disputes, invoice age; auto-decisions with `stop`; owners, notices, write-offs."""
    def rule(name, condition, stop=False, **actions):
        return {"name": name, "description": "", "condition": condition, "actions": actions, "stop": stop,
                "enabled": True}

    rules = [
        rule("Write off tiny unexplained short pays", 'category == "unknown" && amount < 3.0',
             stop=True, decide="valid", write_off={"account": "6890"}, queue="auto-closed"),
        rule("Approve small promotion claims of low-risk customers",
             'category == "promotion" && amount < 40.0 && customer.risk != "high"', stop=True, decide="valid",
             queue="promotions-approved"),
        rule("Reject tax deductions", 'category == "tax" && amount >= 2500.0', stop=True, decide="invalid",
             queue="tax"),
        rule("Key accounts have their own desk", 'customer.segment == "key"', queue="key-accounts",
             owner=OWNER_EMAIL),
        rule("High-risk customers to collections", 'customer.risk == "high"', queue="collections",
             priority="urgent"),
        rule("Medium-risk large claims", 'customer.risk == "medium" && amount >= 2000.0', priority="high"),
        rule("Retail chains: pricing desk", 'customer.segment == "retail" && category == "pricing"',
             queue="retail-pricing"),
        rule("Very large claims", "amount >= 20000.0", priority="urgent", sla_hours=12,
             notify=[LEAD_EMAIL]),
        rule("Claims from 5,000", "amount >= 5000.0 && amount < 20000.0", priority="high", sla_hours=48),
        rule("Claims from 1,000", "amount >= 1000.0 && amount < 5000.0", sla_hours=96),
        rule("Small claims are low priority", "amount < 50.0", priority="low", sla_hours=240),
        rule("Mid-size claims", "amount >= 50.0 && amount < 1000.0", sla_hours=120),
        rule("Price agreement for pricing claims", 'category == "pricing" && documents == 0 && amount >= 250.0',
             request_documents=["price agreement or quote"]),
        rule("Freight contract for freight claims", 'category == "freight" && documents == 0',
             request_documents=["freight terms"], queue="freight"),
        rule("Promotion proof", 'category == "promotion" && documents == 0 && amount >= 40.0',
             request_documents=["promotion agreement", "proof of performance"]),
        rule("Return authorisation", 'category == "returns" && documents == 0',
             request_documents=["return authorisation (RMA)"], queue="returns"),
        rule("Documents in hand", "documents > 0", priority="normal"),
        rule("Frequent claimants", "past_disputes >= 40", queue="repeat-claimants", priority="high"),
        rule("Regular claimants over 500", "past_disputes >= 15 && amount >= 500.0", sla_hours=72),
        rule("First claims of a customer", "past_disputes == 0", queue="first-claims"),
        rule("Aged invoices", "invoice_age_days > 150", priority="high"),
        rule("Recent invoices with shortages", 'invoice_age_days < 15 && category == "shortage"',
             queue="logistics-fast"),
        rule("Old damage claims", 'invoice_age_days > 90 && category == "damage"', decide="invalid",
             queue="damage-late", stop=True),
        rule("Damage over 1,000 to the claims desk", 'category == "damage" && amount >= 1000.0',
             owner=OWNER_EMAIL),
        rule("Shortage over 1,000 to the claims desk", 'category == "shortage" && amount >= 1000.0',
             owner=OWNER_EMAIL),
        rule("Unknown reason over 500", 'category == "unknown" && amount >= 500.0', queue="unknown-reason",
             priority="high"),
        rule("Unknown reason", 'category == "unknown"', queue="unknown-reason"),
        rule("Unearned discounts", 'category == "unearned_discount"', queue="terms", decide="invalid"),
        rule("Compliance fines", 'category == "compliance"', queue="compliance"),
        rule("Tax", 'category == "tax"', queue="tax"),
        rule("Returns", 'category == "returns"', queue="returns"),
        rule("Freight", 'category == "freight"', queue="freight"),
        rule("Shortages", 'category == "shortage"', queue="logistics"),
        rule("Damage", 'category == "damage"', queue="logistics"),
        rule("Pricing over 2,500 to the lead", 'category == "pricing" && amount >= 2500.0',
             notify=["finance_lead"]),
        rule("Reason code given by the customer", 'reason != "short_payment"', sla_hours=144),
        rule("Cash application deductions", 'source == "cash_application" && status == "open"',
             queue="cash-app-deductions"),
        rule("Already valid after research", 'status == "valid"', queue="to-resolve"),
        rule("Not USD", 'currency != "USD"', queue="fx-review"),
        rule("Customer names with Holdings", 'customer.name.contains("Holdings")', queue="group-accounts"),
        rule("Round amounts", "double(int(amount)) == amount && amount >= 100.0", queue="round-amounts"),
        rule("Pricing between 100 and 250", 'category == "pricing" && amount >= 100.0 && amount < 250.0',
             priority="normal"),
        rule("Shortage or damage of repeat claimants",
             'category in ["shortage", "damage"] && past_disputes >= 25', priority="high",
             notify=["finance_lead"]),
        rule("Approve tiny freight", 'category == "freight" && amount < 15.0', stop=True, decide="valid",
             write_off={"account": "6810"}),
    ]
    assert len(rules) == 44, len(rules)
    return rules


def rule_file(exported: str) -> str:
    """The exported default file with the 44 rules put before the catch-all (`Everything else`)."""
    import yaml

    content = yaml.safe_load(exported)
    deduction = content["deduction"]
    catch_all = [r for r in deduction if r["condition"] == "true"]
    content["deduction"] = [r for r in deduction if r["condition"] != "true"] + added_rules() + catch_all
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True)


# --- timing ------------------------------------------------------------------------------------------

class Phases:
    """Exclusive wall seconds per phase: a phase called inside another is subtracted from it."""

    def __init__(self):
        self.seconds: Counter = Counter()
        self.calls: Counter = Counter()
        self._stack: list[list] = []

    def wrap(self, label: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            frame = [0.0]
            self._stack.append(frame)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self._stack.pop()
                self.seconds[label] += elapsed - frame[0]
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1][0] += elapsed
        return timed

    def patch(self, module, name: str, label: str) -> None:
        setattr(module, name, self.wrap(label, getattr(module, name)))


def instrument(phases: Phases, captured_facts: dict) -> None:
    """Timers around the services the tasks call (the tasks import them at call time, so the module
    attribute is what runs); the deduction case source re-registered with timed copies of its functions."""
    import deductions.notifications as notifications
    import deductions.research as research
    import deductions.services as services
    import deductions.triage as source
    import o2c.rules.services as rules
    from o2c.rules import CaseSource, register_case_source

    phases.patch(services, "deductions_intake", "intake: reason codes (deductions.intake)")
    phases.patch(research, "deduction_research", "research: duplicates, promotions, memos, tolerance")
    phases.patch(rules, "triage_run", "triage: task rest (rule load, transaction, commit)")
    phases.patch(rules, "triage_decide", "triage: compile + evaluate 50 rules")
    phases.patch(rules, "_store_results", "triage: store TriageResults")
    phases.patch(services, "deduction_resolve", "triage: write-offs decided by rules (deduction_resolve)")
    if hasattr(services, "deductions_write_off"):  # the batch write-off (after the speed fix)
        phases.patch(services, "deductions_write_off", "triage: write-offs decided by rules (deduction_resolve)")
    phases.patch(notifications, "documents_request_send", "follow-up tasks: document requests")
    phases.patch(notifications, "staff_notify", "follow-up tasks: staff notices")
    if hasattr(notifications, "triage_follow_ups_send"):  # one task per batch (after the speed fix)
        phases.patch(notifications, "triage_follow_ups_send", "follow-up tasks: document requests + notices")

    def facts(ids):
        out = source.facts(ids)
        captured_facts.update(out)
        return out

    register_case_source(CaseSource(kind="deduction", facts=phases.wrap("triage: facts (2 queries + counts)", facts),
                                    apply=phases.wrap("triage: apply actions + audit events", source.apply),
                                    recent=source.recent, describe=source.describe))


# --- the run -----------------------------------------------------------------------------------------

def command(*args) -> str:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def migrate() -> None:
    """`migrate` as the owner. Data migrations (o2c/0010, disputes/0002) read o2c_tenant through the default
    (app role) connection, which on a fresh database has its grants only after migrate (o2c/rls.py,
    post_migrate): this bench database lets the app role read new tables from the start."""
    from django.conf import settings
    from django.db import connections

    with connections["owner"].cursor() as cur:
        cur.execute(f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "{settings.O2C_APP_DB_USER}"')
    command("migrate", "--verbosity", "0")


def set_up(args, workdir: Path, today: date) -> Data:
    from cashapp.models import CashAppSettings
    from o2c.models import Tenant
    from o2c.tenancy import tenant_context

    print(command("create_tenant", TENANT, "--name", "Bench triage end to end"))
    tenant = Tenant.objects.get(slug=TENANT)
    with tenant_context(tenant):
        # The import alone, then `apply_cash` below: no matching run started by the import's commit.
        CashAppSettings.objects.create(match_after_import=False)
    command("create_user", "--tenant", TENANT, "--email", OWNER_EMAIL, "--role", "ar_clerk")
    command("create_user", "--tenant", TENANT, "--email", LEAD_EMAIL, "--role", "finance_lead")

    started = time.perf_counter()
    data = generate(args.deductions, args.customers, args.seed, today)
    (workdir / "invoices.csv").write_bytes(invoice_csv(data))
    (workdir / "statement.xml").write_bytes(camt053(data, today, args.seed))
    print(f"generated {len(data.customers):,} customers, {len(data.invoices):,} invoices, "
          f"{len(data.payments):,} short pays (seed {args.seed}) in {time.perf_counter() - started:.1f} s")
    print(command("import_invoices", "--tenant", TENANT, str(workdir / "invoices.csv")))
    print(command("triage_rules", "--tenant", TENANT, "export", str(workdir / "exported.yaml")))
    (workdir / "rules.yaml").write_text(rule_file((workdir / "exported.yaml").read_text()))
    print(command("triage_rules", "--tenant", TENANT, "import", str(workdir / "rules.yaml")))
    print(command("import_bank_file", "--tenant", TENANT, str(workdir / "statement.xml")))
    return data


def apply_cash_holding_intake() -> list[tuple]:
    """`apply_cash`, with the intake tasks its posting enqueues held (recorded), not run, so they can be
    timed alone afterwards. Nothing else of the path changes."""
    import deductions.handlers as handlers

    held: list[tuple] = []
    real = handlers.deductions_intake_task

    class Hold:
        @staticmethod
        def delay(*args):
            held.append(args)

    handlers.deductions_intake_task = Hold
    try:
        started = time.perf_counter()
        print(command("apply_cash", "--tenant", TENANT))
        print(f"apply_cash: {time.perf_counter() - started:.1f} s (set-up, not timed)")
    finally:
        handlers.deductions_intake_task = real
    return held


def vacuum() -> None:
    """Autovacuum's settled state, as in service (cashapp_e2e.py does the same before its timed run)."""
    from django.db import connections

    conn = connections["owner"]
    conn.ensure_connection()
    conn.connection.autocommit = True
    with conn.connection.cursor() as cur:
        for table in ("deductions_deduction", "o2c_invoice", "o2c_customer", "o2c_triageresult", "o2c_auditevent",
                      "cashapp_application"):
            cur.execute(f"VACUUM ANALYZE {table}")


def baseline(tenant, ids: list[int]) -> float:
    """The bare SQL of the writes triage makes for these deductions, as the app role with RLS on, rolled
    back: read them, insert a result row each, update each once, insert an audit event each."""
    from django.db import connection, transaction

    from o2c.tenancy import tenant_context

    results = json.dumps({"queue": "logistics", "priority": "normal", "sla_hours": 120})
    with tenant_context(tenant):
        started = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SELECT id, amount, currency, reason, status, customer_id, invoice_id, created_at "
                            "FROM deductions_deduction WHERE id = ANY(%s)", [ids])
                cur.fetchall()
                cur.execute("INSERT INTO o2c_triageresult (tenant_id, kind, case_id, rules_fired, \"values\", "
                            "actions, explanation, errors, created_at) SELECT %s, 'deduction', i, "
                            "'[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]', '{}', %s::jsonb, "
                            "repeat('x', 600), '[]', now() FROM unnest(%s::bigint[]) AS i",
                            [tenant.pk, results, ids])
                cur.execute("UPDATE deductions_deduction SET queue = 'baseline', priority = 'normal' "
                            "WHERE id = ANY(%s)", [ids])
                cur.execute("INSERT INTO o2c_auditevent (tenant_id, created_at, channel, user_agent, action, "
                            "object_type, object_id, object_repr, changes) SELECT %s, now(), 'task', '', "
                            "'deduction.triaged', 'deduction', i, 'D', %s::jsonb FROM unnest(%s::bigint[]) AS i",
                            [tenant.pk, json.dumps({"queue": ["", "logistics"], "triage": [None, "x" * 300]}), ids])
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
    return elapsed


def check_accuracy(tenant, data: Data, facts: dict, rules_text: str) -> list[str]:
    """One TriageResult per deduction; decisions equal to a pure evaluation of the facts the task read;
    the facts' category equal to what the remittance words say. Returns the failures."""
    from deductions.models import Deduction
    from o2c.models import TriageResult
    from o2c.rules.engine import compile_rules, evaluate
    from o2c.rules.fileformat import parse_rule_file
    from o2c.tenancy import tenant_context

    failures = []
    compiled = compile_rules(parse_rule_file(rules_text, "yaml")["deduction"], kind="deduction")
    truth = {p.invoice: p for p in data.payments}
    with tenant_context(tenant):
        deductions = list(Deduction.objects.values_list("pk", "invoice__number", "amount"))
        per_case = Counter(TriageResult.objects.filter(kind="deduction").values_list("case_id", flat=True))
        stored = {case_id: (fired, actions) for case_id, fired, actions in
                  TriageResult.objects.filter(kind="deduction").values_list("case_id", "rules_fired", "actions")}
    once = sum(1 for pk, _, _ in deductions if per_case.get(pk) == 1)
    print(f"\naccuracy: {len(deductions):,} deductions; exactly one TriageResult: {once:,}; "
          f"none: {sum(1 for pk, _, _ in deductions if pk not in per_case)}; "
          f"more than one: {sum(1 for n in per_case.values() if n > 1)}")
    if once != len(deductions) or len(deductions) != len(data.payments):
        failures.append(f"{len(deductions) - once} deductions without exactly one TriageResult "
                        f"({len(data.payments) - len(deductions)} short pays without a deduction)")
    same = 0
    for case_id, case_facts in facts.items():
        decision = evaluate(compiled, case_facts, case_id)
        if stored.get(case_id) == ([f.name for f in decision.fired], decision.actions):
            same += 1
    print(f"  stored decision == pure evaluation of the same facts: {same:,} of {len(facts):,}")
    if same != len(facts) or len(facts) != len(deductions):
        failures.append(f"{len(facts) - same} decisions differ from the pure evaluation")
    right_category = right_amount = 0
    for pk, number, amount in deductions:
        p, f = truth[number], facts.get(pk, {})
        right_category += f.get("category") == CATEGORY_OF[p.reason]
        right_amount += Decimal(str(f.get("amount"))) == p.invoice_amount - p.paid == amount
    print(f"  facts: category as the remittance words say {right_category:,} of {len(deductions):,}; "
          f"amount as short-paid {right_amount:,} of {len(deductions):,}")
    if right_category != len(deductions) or right_amount != len(deductions):
        failures.append("facts differ from the generator's truth")
    return failures


def eagerly(args, held) -> tuple[float, dict]:
    """The held intake tasks sent again, eagerly: each runs here, and the tasks it enqueues when it commits."""
    import cProfile

    from deductions.tasks import deductions_intake

    phases, facts = Phases(), {}
    instrument(phases, facts)
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for args_ in held:
        deductions_intake.delay(*args_)
    total = time.perf_counter() - started
    if profiler:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    print(f"\ntriage of {len(facts):,} new deductions (Celery eager, in this process; app role, RLS on): "
          f"{total:.2f} s, {len(facts) / total:,.0f} deductions/s; target <= 10 s")
    for label, seconds in sorted(phases.seconds.items(), key=lambda kv: kv[0]):
        print(f"  {label:<62}{seconds:7.2f} s  ({phases.calls[label]:,} calls)")
    print(f"  {'(not in a phase: task dispatch, the rest)':<62}{total - sum(phases.seconds.values()):7.2f} s")
    engine = sum(v for k, v in phases.seconds.items() if k.startswith("triage:") and "apply" not in k
                 and "write-offs" not in k)
    print(f"  of which the rules engine (facts, 50 rules, results stored): {engine:.2f} s; without the write-offs "
          f"the rules decided: {total - sum(v for k, v in phases.seconds.items() if 'write-offs' in k):.2f} s")
    return total, facts


class Worker:
    """`celery -A o2c worker --pool solo` on this benchmark's database and its own queue; its log is read for
    what it received and finished."""

    def __init__(self, db: str):
        import subprocess

        from o2c.celery import all_queues

        self.log = Path(tempfile.mkstemp(prefix="bench-triage-worker-", suffix=".log")[1])
        env = {**os.environ, "O2C_DB_NAME": db, "O2C_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "o2c", "worker", "--pool", "solo", "--queues",
                 all_queues(os.environ["O2C_CELERY_QUEUE"]), "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle", "--without-heartbeat"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(" ready." in line for line in self.lines()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the worker did not start:\n" + "\n".join(self.lines()[-30:]))
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except Exception:  # noqa: BLE001 - a worker that does not stop is killed
            self.proc.kill()


def start_worker(db: str) -> Worker:
    worker = Worker(db)
    worker.wait_ready()
    print(f"worker started (solo pool, queue {os.environ['O2C_CELERY_QUEUE']}, log {worker.log})")
    return worker


def through_worker(worker: Worker, held, n: int, tenant) -> float:
    """Send the held intake tasks to the worker; done when every deduction has its TriageResult, the queue is
    empty and the worker has finished every task it received; timed by the worker's log clock."""
    import re
    from datetime import datetime

    import redis

    from deductions.tasks import deductions_intake
    from o2c.celery import all_queues
    from o2c.models import TriageResult
    from o2c.tenancy import tenant_context

    queue, broker = os.environ["O2C_CELERY_QUEUE"], redis.Redis.from_url(os.environ["REDIS_URL"])
    done_re = re.compile(r"^\[([\d-]+ [\d:]+,\d+): .*Task ([\w.]+)\[[\w-]+\] (succeeded|raised|failed)"
                         r"[^0-9]*([0-9.e-]+)s")

    def wait_idle(first: int, n_results: int = 0) -> list[str]:
        """Until the queue is empty, the worker has finished all it received and `n_results` are stored."""
        quiet, deadline = 0, time.monotonic() + 600
        while quiet < 4:
            time.sleep(0.05)
            lines = worker.lines()[first:]
            received = sum(" received" in line for line in lines)
            finished = sum(bool(done_re.search(line)) for line in lines)
            stored = n_results
            if n_results:
                with tenant_context(tenant):
                    stored = TriageResult.objects.filter(kind="deduction").count()
            idle = stored >= n_results and received == finished and not any(
                broker.llen(q) for q in all_queues(queue).split(","))
            quiet = quiet + 1 if idle else 0
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not finish in 10 minutes")
        return lines

    wait_idle(0)  # what the set-up enqueued (apply_cash's receipts) is not the triage's
    first = len(worker.lines())
    sent_at = datetime.now()
    for args_ in held:
        deductions_intake.delay(*args_)
    lines = wait_idle(first, n)
    # From sending to the last task's end, by the worker's own log clock (the polling adds nothing).
    last = max(datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f") for m in map(done_re.search, lines) if m)
    total = (last - sent_at).total_seconds()
    per_task: dict[str, list[float]] = {}
    for line in lines:
        match = done_re.search(line)
        if match:
            per_task.setdefault(match[2], []).append(float(match[4]))
            if match[3] != "succeeded":
                print("  FAILED: " + line)
    print(f"\ntriage of {n:,} new deductions (a Celery worker process, solo pool, over Redis; app role, RLS on): "
          f"{total:.2f} s, {n / total:,.0f} deductions/s; target <= 10 s")
    for name, seconds in sorted(per_task.items()):
        print(f"  task {name:<40}{sum(seconds):7.2f} s  ({len(seconds)} tasks)")
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deductions", type=int, default=10_000)
    p.add_argument("--customers", type=int, default=1_500)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--db", default="o2c_bench_triage_e2e")
    p.add_argument("--profile", action="store_true", help="cProfile the timed part; print the top 40 (cumulative)")
    p.add_argument("--worker", metavar="REDIS_URL",
                   help="run the tasks in a real Celery worker process (solo pool) over this Redis instead of eagerly")
    args = p.parse_args()
    print(machine_speed())
    print("command: " + " ".join(["bench/triage_e2e.py", *sys.argv[1:]]))
    ensure_database(args.db, fresh=True)
    if args.worker:
        os.environ.update(REDIS_URL=args.worker, O2C_CELERY_QUEUE=f"bench-triage-{os.getpid()}")
    setup_django(args.db)
    from django.conf import settings

    assert settings.CELERY_TASK_ALWAYS_EAGER != bool(args.worker), "eager without REDIS_URL, or --worker"
    migrate()
    worker = start_worker(args.db) if args.worker else None
    from deductions.models import Deduction
    from o2c.models import Tenant
    from o2c.rules.services import triage_rules
    from o2c.tenancy import tenant_context

    today = date.today()
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as tmp:
        workdir = Path(tmp)
        data = set_up(args, workdir, today)
        held = apply_cash_holding_intake()
        rules_text = (workdir / "rules.yaml").read_text()
    tenant = Tenant.objects.get(slug=TENANT)
    with tenant_context(tenant):
        ids = sorted(Deduction.objects.values_list("pk", flat=True))
        n_rules = triage_rules("deduction").filter(enabled=True).count()
    print(f"{len(ids):,} deductions opened by the ledger handler in {len(held)} intake task(s) held; "
          f"{n_rules} deduction rules")
    vacuum()

    if worker is not None:
        try:
            total = through_worker(worker, held, len(ids), tenant)
        finally:
            worker.stop()
        base = baseline(tenant, ids)
        facts = None
    else:
        total, facts = eagerly(args, held)
        base = baseline(tenant, ids)
    print(f"baseline, same database, same run: the bare SQL of the writes ({len(ids):,} rows read, inserted as "
          f"results, updated, audited; rolled back) {base:.2f} s -> triage = {total / base:.1f} x baseline")

    from o2c.models import TriageResult

    with tenant_context(tenant):
        fired = Counter(name for names in TriageResult.objects.filter(kind="deduction")
                        .values_list("rules_fired", flat=True) for name in names)
        statuses = Counter(Deduction.objects.values_list("status", flat=True))
        per_case = Counter(TriageResult.objects.filter(kind="deduction").values_list("case_id", flat=True))
    print(f"\nrules fired per deduction: {sum(fired.values()) / max(len(ids), 1):.1f}; "
          f"rules that fired at all: {len(fired)} of {n_rules}; top 10:")
    for name, count in fired.most_common(10):
        print(f"  {count:>7,}  {name}")
    print(f"deduction status after triage: {dict(sorted(statuses.items()))}")

    if facts is None:
        once = sum(per_case.get(pk) == 1 for pk in ids)
        print(f"exactly one TriageResult: {once:,} of {len(ids):,} deductions")
        print("\n(the decisions are compared with a pure evaluation in the eager mode, where the facts the task "
              "read are at hand)")
        return
    failures = check_accuracy(tenant, data, facts, rules_text)
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("O2C_LOG_LEVEL", "WARNING")
    # Mail is built and handed to Django's in-memory backend (the console one would print 10k mails).
    os.environ.setdefault("O2C_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    main()
