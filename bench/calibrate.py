"""Fit the matcher's calibration table from labelled per-decision rows, and show how well calibrated it is.

    .venv/bin/python bench/calibrate.py ROWS.jsonl                 # reliability of the table in use, and of a fit
    .venv/bin/python bench/calibrate.py ROWS.jsonl --write         # write the fit to cashapp/matching/calibration.json

ROWS.jsonl: one JSON object per decision with a proposal, holding at least "raw" (the evidence score before
calibration, evidence.raw_score of the best proposal) and "correct" (whether posting that proposal would have been
right). `bench/cashapp.py --rows FILE` writes such rows from the labelled generator; an independent benchmark
writes the same. Fit on rows the matcher was NOT tuned on (the generator's are for tuning the weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cashapp.matching import calibration  # noqa: E402

BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0001)


def read_rows(path: Path) -> list[tuple[float, bool]]:
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


def reliability(rows: list[tuple[float, bool]], points) -> list[str]:
    """Per band of reported confidence: how many decisions, their mean confidence, and the share right."""
    out = [f"  {'confidence':<14}{'decisions':>10}{'mean conf':>11}{'right %':>9}"]
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        band = [(calibration.calibrated(raw, points), ok) for raw, ok in rows
                if lo <= calibration.calibrated(raw, points) < hi]
        if band:
            mean = sum(c for c, _ in band) / len(band)
            right = 100 * sum(ok for _, ok in band) / len(band)
            out.append(f"  {f'{lo:.2f}-{min(hi, 1):.2f}':<14}{len(band):>10,}{mean:>11.3f}{right:>9.2f}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rows", type=Path)
    p.add_argument("--min-block", type=int, default=50, help="decisions per pooled block at least")
    p.add_argument("--write", action="store_true", help=f"write the fitted table to {calibration.TABLE_PATH.name}")
    args = p.parse_args()
    rows = read_rows(args.rows)
    in_use = calibration.load()
    print(f"{len(rows):,} decisions from {args.rows}")
    print("table in use:", *reliability(rows, in_use), sep="\n")
    fitted = calibration.fit(rows, min_block=args.min_block)
    print(f"fitted ({len(fitted)} points):", *reliability(rows, fitted), sep="\n")
    if args.write:
        calibration.write(fitted, fitted_on=f"{args.rows.name}: {len(rows)} decisions, blocks of {args.min_block}")
        print(f"written to {calibration.TABLE_PATH}")


if __name__ == "__main__":
    main()
