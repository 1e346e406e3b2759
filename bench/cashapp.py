"""Cash-application accuracy and speed of the pure matcher, against a plain exact-reference baseline.

    .venv/bin/python bench/cashapp.py [--seed 2] [--payments 100000] [--invoices 1000000] [--customers 5000]
    .venv/bin/python bench/cashapp.py --quick          # 10k payments, 100k invoices, 1k customers

Data from `bench/cashapp_data.py` (seeded, labelled). The matcher was tuned on seed 1; report seed 2.
For each case and overall it prints: the share of matchable payments applied automatically and correctly,
the precision of what was applied automatically, automatic applications of payments nobody should post
(ambiguous, unknown payer), and the suggestion/unmatched split; then index build time, matching
throughput, peak memory. The end-to-end run on Postgres is `bench/cashapp_e2e.py`.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cashapp_data import CASES, generate  # noqa: E402
from bench.invoice_list import machine_speed  # noqa: E402
from cashapp.matching import AUTO, SUGGEST, MatchIndex, MatchSettings, match_payments  # noqa: E402
from cashapp.matching.evidence import raw_score  # noqa: E402
from cashapp.matching.types import Allocation, Decision, Proposal  # noqa: E402

ZERO = Decimal(0)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--payments", type=int, default=100_000)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--skew", nargs="?", type=float, const=0.8, default=None, metavar="ZIPF",
                   help="a skewed ledger: customer sizes Zipf(ZIPF, default 0.8: the largest of 5,000 customers holds "
                        "4.3 %% of the invoices, the top 50 28 %%) and payers drawn in proportion to their invoices")
    p.add_argument("--chunk", type=int, default=5_000)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--show-errors", type=int, default=0, help="print this many wrong automatic applications")
    p.add_argument("--rows", type=Path, help="write one JSON row per decision with a proposal (for bench/calibrate.py)")
    return p.parse_args()


def baseline(payments, invoices) -> list[Decision]:
    """What open ERPs do: an invoice number spelt exactly in the remittance, and the amount equal to the
    open balance (or the sum of the named invoices)."""
    by_number = {i.number: i for i in invoices}
    token = re.compile(r"[A-Z0-9][A-Z0-9\-]*[A-Z0-9]")
    consumed = set()
    out = []
    for p in payments:
        refs = [line.reference for line in p.lines] + token.findall(p.text.upper())
        found = [by_number[r] for r in dict.fromkeys(refs) if r in by_number and by_number[r].id not in consumed]
        if found and sum((i.open_balance for i in found), ZERO) == p.amount:
            consumed.update(i.id for i in found)
            allocations = tuple(Allocation(i.id, i.number, i.open_balance) for i in found)
            out.append(Decision(p.id, AUTO, (Proposal(found[0].customer_id, allocations, ZERO, 1.0, "exact"),)))
        else:
            out.append(Decision(p.id, "unmatched"))
    return out


def score(decisions: list[Decision], truth) -> dict[str, Counter]:
    per_case: dict[str, Counter] = defaultdict(Counter)
    errors = []
    for d in decisions:
        t = truth[d.payment_id]
        c = per_case[t.case]
        c["payments"] += 1
        c["matchable"] += t.matchable
        c[d.outcome] += 1
        if d.outcome == AUTO:
            applied = {a.invoice_id: a.applied for a in d.best.allocations}
            deduction = {a.invoice_id: a.deduction for a in d.best.allocations if a.deduction}
            correct = t.matchable and applied == t.applied and deduction == t.deduction
            c["auto_correct"] += correct
            c["false_auto"] += not t.matchable
            if not correct:
                errors.append((t, d))
        elif d.outcome == SUGGEST and t.matchable:
            best = {a.invoice_id: a.applied for a in d.best.allocations}
            c["suggest_right"] += best == t.applied
    per_case["_errors"] = errors
    return per_case


def write_rows(path: Path, decisions: list[Decision], truth) -> None:
    """Per decision with a proposal: its case, outcome, raw evidence score, reported confidence, and whether
    posting the best proposal would have been right (the same test as `score`)."""
    with path.open("w") as out:
        for d in decisions:
            if not d.best or not d.best.allocations:
                continue
            t = truth[d.payment_id]
            applied = {a.invoice_id: a.applied for a in d.best.allocations}
            deduction = {a.invoice_id: a.deduction for a in d.best.allocations if a.deduction}
            correct = t.matchable and applied == t.applied and deduction == t.deduction
            out.write(json.dumps({"payment": d.payment_id, "case": t.case, "outcome": d.outcome,
                                  "raw": round(raw_score(d.best.evidence), 6), "confidence": d.best.confidence,
                                  "correct": bool(correct)}) + "\n")


def report(title: str, per_case) -> None:
    errors = per_case.pop("_errors")
    print(f"\n{title}")
    print(f"  {'case':<22}{'payments':>9}{'auto ok %':>10}{'precision %':>12}{'false auto':>11}"
          f"{'suggested':>10}{'unmatched':>10}")
    total = Counter()
    for case, _, _ in CASES:
        c = per_case.get(case, Counter())
        total.update(c)
        print(f"  {case:<22}{c['payments']:>9,}{_pct(c['auto_correct'], c['matchable']):>10}"
              f"{_pct(c['auto_correct'], c['auto']):>12}{c['false_auto']:>11}{c['suggest']:>10,}{c['unmatched']:>10,}")
    print(f"  {'overall':<22}{total['payments']:>9,}{_pct(total['auto_correct'], total['matchable']):>10}"
          f"{_pct(total['auto_correct'], total['auto']):>12}{total['false_auto']:>11}{total['suggest']:>10,}"
          f"{total['unmatched']:>10,}")
    wrong = total["auto"] - total["auto_correct"]
    print(f"  wrong automatic applications: {wrong:,} of {total['auto']:,} "
          f"(precision {_pct(total['auto_correct'], total['auto'], 3)} %)")
    per_case["_errors"] = errors


def _pct(a, b, places: int = 2) -> str:
    return f"{100 * a / b:.{places}f}" if b else "-"


def main() -> None:
    args = parse_args()
    print(machine_speed())
    if args.quick:
        args.payments, args.invoices, args.customers = 10_000, 100_000, 1_000
    started = time.perf_counter()
    data = generate(seed=args.seed, n_payments=args.payments, n_invoices=args.invoices, n_customers=args.customers,
                    skew=args.skew)
    print(f"seed {args.seed} (the matcher was tuned on seed 1): {len(data.customers):,} customers, "
          f"{len(data.invoices):,} open invoices, {len(data.payments):,} payments; generated in "
          f"{time.perf_counter() - started:.1f} s")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    index = MatchIndex.build(data.customers, data.invoices)
    build = time.perf_counter() - started
    gc.disable()  # as matching_run_execute does: no collections walking the index (the matcher makes no cycles)
    settings = MatchSettings()
    decisions, chunk_times = [], []
    started = time.perf_counter()
    for k in range(0, len(data.payments), args.chunk):
        t0 = time.perf_counter()
        decisions += match_payments(data.payments[k:k + args.chunk], index, settings)
        chunk_times.append(time.perf_counter() - t0)
    matching = time.perf_counter() - started
    gc.enable()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    base = baseline(data.payments, data.invoices)
    base_time = time.perf_counter() - started

    ours = score(decisions, data.truth)
    if args.rows:
        write_rows(args.rows, decisions, data.truth)
    report("o2c matcher", ours)
    report("baseline: exact invoice number and exact amount", score(base, data.truth))
    print(f"\nspeed: index of {len(data.invoices):,} invoices built in {build:.2f} s; {len(decisions):,} payments "
          f"matched in {matching:.2f} s ({len(decisions) / matching:,.0f}/s); per chunk of {args.chunk:,}: "
          f"first {chunk_times[0]:.2f} s, last {chunk_times[-1]:.2f} s (linear: same cost per chunk); "
          f"baseline {base_time:.2f} s")
    print(f"memory: peak RSS {rss1 / 1024:,.0f} MiB (data generated: {rss0 / 1024:,.0f} MiB)")
    for t, d in ours["_errors"][:args.show_errors]:
        print(f"\nWRONG {t.case}: expected {t.applied} ded {t.deduction}\n  got {d.best.allocations}\n  "
              f"{d.best.explanation}")


if __name__ == "__main__":
    main()
