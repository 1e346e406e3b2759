"""Triage of 10,000 new deductions (one large remittance) through 50 rules: target <= 10 s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/triage.py \
        [--cases 10000] [--rules 50] [--source bench|deduction] [--db o2c_bench_triage] [--pure-only]

(a) pure: compile the 50 rules once, evaluate every case (`o2c.rules.engine`).
(b) through Postgres, as the worker does it: the rules imported into a tenant, then `triage_run` over the
    ids in the batches `triage_enqueue` sends to Celery (facts from the case source, evaluation, 10k
    TriageResult rows bulk-inserted as the app role with row-level security on, `apply` called).
    `--source bench` registers a source whose facts are generated; `--source deduction` uses the source
    the deductions app registers, over its deductions of the last 90 days.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANT_SLUG = "bench-triage"
CATEGORIES = ("pricing", "shortage", "damage", "returns", "promotion", "freight", "tax", "unearned_discount",
              "compliance", "unknown")


def make_rules(n: int):
    """`n` realistic rules: thresholds, categories, customers, counts; a few stop; the last is a catch-all."""
    from o2c.rules.engine import RuleSpec

    templates = [
        ('amount < {a}.0 && category == "{c}" && customer.risk != "high"', {"decide": "valid", "queue": "auto"}),
        ('category in ["{c}", "unknown"] && documents == 0', {"request_documents": ["proof of delivery"]}),
        ("amount >= {a}0.0 && invoice_age_days > {d}", {"priority": "high", "sla_hours": 24}),
        ('customer.segment == "key" && amount > {a}.0', {"queue": "key-accounts", "notify": ["finance_lead"]}),
        ("past_disputes > {p} || customer.risk == \"high\"", {"priority": "urgent"}),
        ('reason.startsWith("P") && category == "{c}"', {"queue": "pricing"}),
        ('source == "remittance" && amount < {a}.5 && !(category in ["tax", "compliance"])', {"owner": "ar@x.test"}),
    ]
    rng = random.Random(50)
    rules = []
    for i in range(n - 1):
        condition, actions = templates[i % len(templates)]
        condition = condition.format(a=rng.randint(5, 500), c=rng.choice(CATEGORIES), d=rng.randint(10, 120),
                                     p=rng.randint(1, 8))
        rules.append(RuleSpec(name=f"rule {i + 1:02d}", condition=condition, actions=actions, stop=i % 17 == 16))
    rules.append(RuleSpec(name="catch-all", condition="true", actions={"queue": "deductions", "priority": "normal"}))
    return rules


def make_facts(n: int, seed: int = 1, first_id: int = 1) -> dict[int, dict]:
    rng = random.Random(seed)
    return {
        case_id: {
            "kind": "deduction", "amount": round(rng.lognormvariate(5, 1.5), 2), "currency": "USD",
            "reason": rng.choice(["P01", "P02", "S01", "D01", ""]), "category": rng.choice(CATEGORIES),
            "source": rng.choice(["remittance", "cash_application"]), "status": "open",
            "customer": {"id": rng.randint(1, 5000), "name": f"Customer {rng.randint(1, 5000)}",
                         "segment": rng.choice(["key", "smb", "retail", ""]),
                         "risk": rng.choice(["low", "medium", "high"])},
            "invoice_age_days": rng.randint(0, 200), "past_disputes": rng.randint(0, 12),
            "documents": rng.randint(0, 2),
        }
        for case_id in range(first_id, first_id + n)
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--rules", type=int, default=50)
    p.add_argument("--source", choices=["bench", "deduction"], default="bench")
    p.add_argument("--db", default="o2c_bench_triage")
    p.add_argument("--pure-only", action="store_true", help="skip the Postgres part")
    return p.parse_args()


def pure(cases: int, n_rules: int) -> None:
    from o2c.rules.engine import compile_rules, evaluate

    rules, facts = make_rules(n_rules), make_facts(cases)
    started = time.perf_counter()
    compiled = compile_rules(rules)
    compiled_at = time.perf_counter()
    fired = sum(len(evaluate(compiled, case, case_id).fired) for case_id, case in facts.items())
    done = time.perf_counter()
    print(f"(a) pure: compile {n_rules} rules {compiled_at - started:.3f} s; evaluate {cases:,} cases "
          f"{done - compiled_at:.2f} s ({(done - compiled_at) / cases * 1e6:.0f} µs a case, "
          f"{fired / cases:.1f} rules fired a case)")


def bench_source(cases: int, applied: list):
    from o2c.rules import CaseSource

    facts = make_facts(cases)
    return CaseSource(kind="deduction", facts=lambda ids: {i: facts[i] for i in ids if i in facts},
                      apply=lambda decisions: applied.append(len(decisions)),
                      recent=lambda days: list(facts), describe=lambda ids: {i: f"bench case {i}" for i in ids})


def through_postgres(args) -> None:
    from bench.invoice_list import ensure_database, setup_django

    ensure_database(args.db)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    from o2c.models import Tenant, TriageResult
    from o2c.rules import ENQUEUE_BATCH, register_case_source
    from o2c.rules.fileformat import dump_rule_file
    from o2c.rules.services import triage_rules_replace, triage_run
    from o2c.rules.sources import case_source
    from o2c.tenancy import tenant_context

    tenant = Tenant.objects.using("owner").get_or_create(slug=TENANT_SLUG, defaults={"name": "Bench Triage"})[0]
    applied: list[int] = []
    if args.source == "bench":
        register_case_source(bench_source(args.cases, applied))
    with tenant_context(tenant):
        TriageResult.objects.filter(kind="deduction").delete()  # each run starts from an empty table
        triage_rules_replace(content=dump_rule_file({"deduction": make_rules(args.rules)}, "json"), format="json")
        ids = sorted(case_source("deduction").recent(90))[:args.cases]
    started = time.perf_counter()
    for start in range(0, len(ids), ENQUEUE_BATCH):  # one Celery task's work each, run here back to back
        with tenant_context(tenant):
            triage_run(kind="deduction", ids=ids[start:start + ENQUEUE_BATCH])
    elapsed = time.perf_counter() - started
    with tenant_context(tenant):
        stored = TriageResult.objects.filter(kind="deduction").count()
    print(f"(b) through Postgres ({args.source} source): {len(ids):,} cases x {args.rules} rules in "
          f"{len(range(0, len(ids), ENQUEUE_BATCH))} task batches: {elapsed:.2f} s "
          f"({stored:,} TriageResults stored{', apply called on ' + str(sum(applied)) if applied else ''}); "
          f"target <= 10 s")


def main():
    args = parse_args()
    from bench.invoice_list import machine_speed

    print(machine_speed())
    print("command: " + " ".join(["bench/triage.py", *sys.argv[1:]]))
    if args.pure_only:
        pure(args.cases, args.rules)
        return
    through_postgres(args)  # sets Django up; (a) needs only the engine, run after for one output
    pure(args.cases, args.rules)


if __name__ == "__main__":
    main()
