"""Truth files, scoring of the cash-application export, and the exact-reference baseline."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from .generate import CASES, Book, Payment


def write_truth(book: Book, directory, main: int | None = None) -> None:
    """truth.csv / truth.json; payments from `main` on are held out of the day's file (the intraday file)."""
    rows = []
    for p in book.payments:
        rows.append({
            "seq": p.seq, "file": "main" if main is None or p.seq < main else "intraday",
            "bank_reference": p.bank_reference, "case": p.case, "matchable": p.matchable,
            "amount": f"{p.amount / 100:.2f}", "customer_id": p.customer, "payer_name": p.payer_name,
            "expected": [{"invoice_number": n, "applied": f"{c / 100:.2f}"} for n, c in p.expected],
            "noise": p.noise,
        })
    (directory / "truth.json").write_text(json.dumps({"scheme": book.scheme, "payments": rows}, indent=0))
    with (directory / "truth.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seq", "file", "bank_reference", "case", "matchable", "amount", "customer_id", "expected", "noise"])
        for r in rows:
            w.writerow([r["seq"], r["file"], r["bank_reference"], r["case"], int(r["matchable"]), r["amount"],
                        r["customer_id"],
                        ";".join(f"{e['invoice_number']}:{e['applied']}" for e in r["expected"]),
                        ";".join(r["noise"])])


@dataclass
class Outcome:
    applied: dict[str, int] = field(default_factory=dict)
    suggested: dict[str, int] = field(default_factory=dict)
    unapplied: int = 0


def _cents(text: str) -> int:
    return int((Decimal(text) * 100).to_integral_value())


def read_export(path) -> dict[str, Outcome]:
    """payment_reference,invoice_number,applied_amount,deduction_amount,status (cashapp.exports)."""
    out: dict[str, Outcome] = defaultdict(Outcome)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ref = row["payment_reference"].lstrip("'")
            o = out[ref]
            if row["status"] == "applied":
                number = row["invoice_number"]
                o.applied[number] = o.applied.get(number, 0) + _cents(row["applied_amount"])
            elif row["status"] == "suggested":
                o.suggested[row["invoice_number"]] = _cents(row["applied_amount"])
            else:
                o.unapplied += _cents(row["applied_amount"])
    return out


def judge(p: Payment, o: Outcome | None) -> tuple[str, bool]:
    """(decision, correct): applied / partial / suggested / unmatched / missing."""
    expected = dict(p.expected)
    if o is None:
        return "missing", False
    if o.applied:
        if not p.matchable:
            return "applied", False
        if o.applied == expected:
            return "applied", True
        if all(expected.get(k) == v for k, v in o.applied.items()):
            return "partial", False
        return "applied", False
    if o.suggested:
        return "suggested", p.matchable and o.suggested == expected
    return "unmatched", not p.matchable


def score(payments: list[Payment], refs: list[str], outcomes: dict[str, Outcome]) -> tuple[dict, list[dict]]:
    """Per case counts and the per-decision rows (for calibration later)."""
    per: dict[str, Counter] = defaultdict(Counter)
    rows = []
    for p, ref in zip(payments, refs, strict=True):
        decision, correct = judge(p, outcomes.get(ref))
        c = per[p.case]
        c["n"] += 1
        c["matchable"] += p.matchable
        c[decision] += 1
        if decision == "applied":
            c["applied_ok" if correct else "applied_wrong"] += 1
        if decision == "suggested" and correct:
            c["suggested_ok"] += 1
        rows.append({"bank_reference": ref, "seq": p.seq, "case": p.case, "matchable": int(p.matchable),
                     "decision": decision, "correct": int(correct), "confidence": ""})
    return per, rows


def write_rows(rows: list[dict], path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# --- the exact-reference baseline ---------------------------------------------------------------

_TOKEN = re.compile(r"[\s,;]+")


def baseline(book: Book, data: bytes, file_name: str) -> dict[str, Outcome]:
    """Post a payment only when its remittance names invoice numbers exactly as issued and their open balances
    sum to the amount; read from the same bank file through the project's parser."""
    from payments.parsers import parse_bank_file

    open_ = dict(zip(book.numbers, book.cents, strict=True))
    out: dict[str, Outcome] = {}
    for entry in parse_bank_file(data, file_name=file_name).entries:
        words = [i.reference for i in entry.remittance]
        words += [w.strip(".:") for w in _TOKEN.split(entry.unstructured)]
        hits = list(dict.fromkeys(w for w in words if open_.get(w)))
        cents = _cents(str(entry.amount))
        o = out[entry.bank_reference] = Outcome()
        if hits and sum(open_[h] for h in hits) == cents:
            for h in hits:
                o.applied[h] = open_[h]
                open_[h] = 0
        else:
            o.unapplied = cents
    return out


# --- report -------------------------------------------------------------------------------------

def summary(per: dict[str, Counter]) -> dict:
    t = Counter()
    for c in per.values():
        t.update(c)
    unmatchable = {case for case, c in per.items() if c["matchable"] == 0}
    posted_bad = sum(per[c]["applied"] for c in unmatchable)
    posted = t["applied"] + t["partial"]
    return {
        "payments": t["n"], "matchable": t["matchable"],
        "auto_correct_pct": 100 * t["applied_ok"] / t["matchable"] if t["matchable"] else 0.0,
        # wrong: some cash went to an invoice it does not settle, or too much of it; partial: only right
        # allocations, but not all of them (the rest left unapplied), which precision counts as not wrong.
        "wrong": t["applied_wrong"], "partial": t["partial"],
        "precision_pct": 100 * (t["applied_ok"] + t["partial"]) / posted if posted else 100.0,
        "unmatchable_posted": posted_bad, "unmatchable": t["n"] - t["matchable"],
        "suggested": t["suggested"], "suggested_ok": t["suggested_ok"], "unmatched": t["unmatched"],
        "missing": t["missing"],
    }


def report(title: str, per: dict[str, Counter]) -> str:
    s = summary(per)
    buf = io.StringIO()
    buf.write(f"{title}: {s['payments']} payments, {s['matchable']} matchable; auto-applied correctly "
              f"{s['auto_correct_pct']:.2f} %; wrong postings {s['wrong']} (+{s['partial']} partial); "
              f"precision {s['precision_pct']:.3f} %; "
              f"ambiguous/unknown posted {s['unmatchable_posted']} of {s['unmatchable']}; suggested {s['suggested']} "
              f"({s['suggested_ok']} right); unmatched {s['unmatched']}"
              + (f"; MISSING from export {s['missing']}" if s["missing"] else "") + "\n")
    buf.write(f"  {'case':<18}{'n':>7}{'auto ok':>9}{'%':>8}{'wrong':>7}{'partial':>8}{'suggest':>8}{'(ok)':>6}"
              f"{'unmatch':>8}\n")
    for case, _ in CASES:
        c = per.get(case)
        if not c:
            continue
        pct = 100 * c["applied_ok"] / c["n"] if c["matchable"] else 0.0
        buf.write(f"  {case:<18}{c['n']:>7}{c['applied_ok']:>9}{pct:>8.1f}{c['applied_wrong']:>7}{c['partial']:>8}"
                  f"{c['suggested']:>8}{c['suggested_ok']:>6}{c['unmatched']:>8}\n")
    return buf.getvalue()
