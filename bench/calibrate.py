"""Fit the matcher's calibration table from labelled per-decision rows, and show how well calibrated it is.

    .venv/bin/python bench/calibrate.py ROWS.jsonl                 # reliability of the table in use, and of a fit
    .venv/bin/python bench/calibrate.py ROWS.jsonl --write         # write the fit to cashapp/matching/calibration.json
    .venv/bin/python bench/calibrate.py ROWS.jsonl [...] --report --svg bench/calibration.svg
                                     # how the table in use does on these rows: the settings page's benchmark
                                     # calibration (cashapp/matching/calibration_report.json) and a chart

Several ROWS files are pooled (one per bank format, say). The independent benchmark's rows carry the confidence the
matcher reported: fit (--write) on rows of a run made with the identity table, and --report on rows of a run made
with the table being checked.

ROWS.jsonl: one JSON object per decision with a proposal, holding at least "raw" (the evidence score before
calibration, evidence.raw_score of the best proposal) and "correct" (whether posting that proposal would have been
right). `bench/cashapp.py --rows FILE` writes such rows from the labelled generator; an independent benchmark
writes the same. Fit on rows the matcher was NOT tuned on (the generator's are for tuning the weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cashapp.matching import calibration  # noqa: E402
from o2c.charts import write_reliability_svg  # noqa: E402

REPORT_PATH = calibration.TABLE_PATH.with_name("calibration_report.json")

# No block of decisions, however many were right, makes a posting certain: the most a table says.
CERTAIN = 0.999
BINS = (0.0, 0.3, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0001)


def read_rows(paths: list[Path]) -> list[tuple[float, bool]]:
    rows = []
    for path in paths:
        rows += _read_rows(path)
    return rows


def _read_rows(path: Path) -> list[tuple[float, bool]]:
    rows = []
    for n, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
            rows.append((float(row["raw"]), bool(row["correct"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}:{n}: not a row with 'raw' and 'correct' ({exc})") from exc
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


def bands(rows: list[tuple[float, bool]], points) -> list[dict]:
    """Per band of reported confidence (through `points`): the decisions, their mean confidence, the share right."""
    reported = [(calibration.calibrated(raw, points), ok) for raw, ok in rows]
    out = []
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        band = [(c, ok) for c, ok in reported if lo <= c < hi]
        if band:
            out.append({"low": lo, "high": min(hi, 1.0), "count": len(band),
                        "mean_confidence": round(sum(c for c, _ in band) / len(band), 4),
                        "observed_right": round(sum(ok for _, ok in band) / len(band), 4)})
    return out


def reliability(rows: list[tuple[float, bool]], points) -> list[str]:
    """The bands as printed lines."""
    out = [f"  {'confidence':<14}{'decisions':>10}{'mean conf':>11}{'right %':>9}"]
    for b in bands(rows, points):
        span = f"{b['low']:.2f}-{b['high']:.2f}"
        out.append(f"  {span:<14}{b['count']:>10,}{b['mean_confidence']:>11.3f}{100 * b['observed_right']:>9.2f}")
    return out


def fit_held(rows: list[tuple[float, bool]], floor: float, min_block: int):
    """The table: scores below `floor` (the default auto-apply threshold) fitted apart from those from it up, the
    first reported below the floor and the others at least at it, so that which payments post at the default
    threshold stays the evidence's call. Below it the fit says how often such answers were right (what lowering the
    threshold would cost and gain), up to just under the floor: evidence too thin to post on is not raised past it
    by any one data set's luck. Apart, so that the few decisions below it are not pooled with the many above it.
    Monotone."""
    if floor <= 0:
        return calibration.fit(rows, min_block=min_block)
    # Just under the floor (scores come to six places), reported at most a step under it.
    below, below_value = round(floor - 1e-6, 6), round(floor - 0.001, 6)
    low = [row for row in rows if row[0] < floor]
    high = [row for row in rows if row[0] >= floor]
    lower_fit = calibration.fit(low, min_block=min_block) if low else ((0.0, 0.0), (1.0, 1.0))
    upper_fit = calibration.fit(high, min_block=min_block) if high else ((0.0, 1.0), (1.0, 1.0))
    at_floor = min(CERTAIN, max(floor, calibration.calibrated(floor, upper_fit)))
    lower = [(x, min(y, below_value)) for x, y in lower_fit if x < below]
    upper = [(x, min(CERTAIN, max(y, at_floor))) for x, y in upper_fit if x > floor]
    held = [*lower, (below, min(below_value, calibration.calibrated(below, lower_fit))), (floor, at_floor), *upper]
    if held[-1][0] < 1.0:
        held.append((1.0, held[-1][1]))
    calibration.check(held)
    return tuple(held)


def report(rows: list[tuple[float, bool]], points, source: str) -> dict:
    """The settings page's benchmark calibration (cashapp.calibration's report shape): per band of reported
    confidence, the decisions, their mean confidence and the share right."""
    return {"version": 1, "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "source": source,
            "decisions": len(rows), "bands": bands(rows, points)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rows", type=Path, nargs="+")
    p.add_argument("--report", action="store_true",
                   help=f"write how the table in use does on these rows to {REPORT_PATH.relative_to(ROOT)}")
    p.add_argument("--source", default="", help="what the rows are, for the report (data set, seed, formats)")
    p.add_argument("--svg", type=Path, help="also draw that reliability chart to this .svg file")
    p.add_argument("--min-block", type=int, default=50, help="decisions per pooled block at least")
    p.add_argument("--hold-below", type=float, default=0.9,
                   help="scores below this (the default auto-apply threshold) are fitted apart and stay below it, "
                        "those from it up at least at it")
    p.add_argument("--write", action="store_true", help=f"write the fitted table to {calibration.TABLE_PATH.name}")
    args = p.parse_args()
    rows = read_rows(args.rows)
    in_use = calibration.load()
    print(f"{len(rows):,} decisions from {', '.join(map(str, args.rows))}")
    print("table in use:", *reliability(rows, in_use), sep="\n")
    fitted = fit_held(rows, args.hold_below, args.min_block)
    print(f"fitted ({len(fitted)} points):", *reliability(rows, fitted), sep="\n")
    if args.report or args.svg:
        # The rows hold what the matcher reported (the benchmark reads it from the database), already through the
        # table in use: binned as they are, not through the table a second time.
        data = report(rows, calibration.IDENTITY, args.source or ", ".join(path.name for path in args.rows))
        if args.report:
            REPORT_PATH.write_text(json.dumps(data, indent=1) + "\n")
            print(f"report written to {REPORT_PATH}")
        if args.svg:
            write_reliability_svg(args.svg, data["bands"],
                                  title=f"Confidence against share right, {data['decisions']:,} decisions")
            print(f"chart written to {args.svg}")
    if args.write:
        source = args.source or ", ".join(path.name for path in args.rows)
        calibration.write(fitted, fitted_on=f"{source}: {len(rows)} decisions, blocks of {args.min_block}, "
                                            f"scores below {args.hold_below} fitted apart and held below it")
        print(f"written to {calibration.TABLE_PATH}")


if __name__ == "__main__":
    main()
