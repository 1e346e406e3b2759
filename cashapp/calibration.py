"""Does the matcher's confidence mean what it says? The evidence a finance lead needs to set the auto-apply
threshold: how often answers of each confidence turned out right, and what each threshold would cost.

Verdicts come from the tenant's own history (`selectors.decision_confidence_counts`): an automatic or
confirmed posting that was never reversed was right, a reversed one wrong; a suggestion a clerk rejected,
or accepted only after re-splitting it, was wrong. With too little history the page shows the benchmark's
calibration instead, read from `calibration_report.json` (written by the matcher benchmark, shape below).

Benchmark report (cashapp/matching/calibration_report.json), version 1:

    {"version": 1,
     "generated_at": "2026-12-04T20:00:00Z",          # ISO 8601, shown on the page
     "source": "bench/cashapp.py seed 2, 100,000 payments",  # free text, shown on the page
     "decisions": 100000,                              # answers scored (the sum of the band counts)
     "bands": [{"low": 0.5, "high": 0.6,               # confidence range: low <= c < high (the last: <= 1)
                "count": 812,                          # answers in the band
                "mean_confidence": 0.553,              # their mean confidence
                "observed_right": 0.561}, ...]}        # share of them that were right (0..1)

Bands may be any ascending, non-overlapping ranges within 0..1; the page draws what it finds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from . import selectors

# Band edges in hundredths: finer where thresholds are set. The last band, 0.99-1.00, includes 1.00.
BAND_EDGES = (0, 50, 60, 70, 80, 85, 90, 95, 99, 100)
THRESHOLDS = tuple(range(80, 100))  # 0.80 ... 0.99, in hundredths
MIN_DECISIONS = 200  # fewer verdicts than this say little about 20 thresholds: show the benchmark's
MIN_BAND = 20  # a band with fewer verdicts is drawn, but marked as thin
REPORT_PATH = Path(__file__).resolve().parent / "matching" / "calibration_report.json"


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    count: int
    mean_confidence: float
    observed_right: float  # share right, 0..1 (0 when count is 0)

    @property
    def label(self) -> str:
        return f"{self.low:.2f}–{self.high:.2f}"

    @property
    def thin(self) -> bool:
        return self.count < MIN_BAND

    @property
    def percent_right(self) -> float:
        return 100 * self.observed_right


@dataclass(frozen=True)
class ThresholdRow:
    threshold: Decimal
    auto_share: float  # share of decided payments at or above the threshold (0..1)
    wrong_per_1000_auto: float | None  # wrong postings per 1,000 automatic postings (None: none would post)
    wrong_per_1000_payments: float  # wrong postings per 1,000 decided payments

    @property
    def auto_percent(self) -> float:
        return 100 * self.auto_share


@dataclass(frozen=True)
class Calibration:
    decisions: int
    bands: list[Band]
    thresholds: list[ThresholdRow]

    @property
    def enough(self) -> bool:
        return self.decisions >= MIN_DECISIONS


@dataclass(frozen=True)
class BenchmarkCalibration:
    bands: list[Band]
    decisions: int = 0
    generated_at: str = ""
    source: str = ""
    problem: str = ""  # why there is none to show ("no benchmark calibration yet", or what is wrong with it)


def tenant_calibration() -> Calibration:
    """The current tenant's calibration, from one query (see selectors.decision_confidence_counts)."""
    return calibration_from_counts(selectors.decision_confidence_counts())


def calibration_from_counts(rows) -> Calibration:
    """rows: (hundredth 0..99, verdicts, sum of confidences, right verdicts), as the selector returns them."""
    per = {int(p): (int(n), float(s), int(r)) for p, n, s, r in rows}
    bands = []
    for low, high in zip(BAND_EDGES, BAND_EDGES[1:], strict=False):
        cells = [per[p] for p in range(low, high) if p in per]
        n = sum(c[0] for c in cells)
        bands.append(Band(low / 100, high / 100, n, sum(c[1] for c in cells) / n if n else (low + high) / 200,
                          sum(c[2] for c in cells) / n if n else 0.0))
    total = sum(n for n, _, _ in per.values())
    thresholds = []
    for t in THRESHOLDS:
        above = [per[p] for p in range(t, 100) if p in per]
        auto = sum(c[0] for c in above)
        wrong = auto - sum(c[2] for c in above)
        thresholds.append(ThresholdRow(Decimal(t).scaleb(-2), auto / total if total else 0.0,
                                       1000 * wrong / auto if auto else None,
                                       1000 * wrong / total if total else 0.0))
    return Calibration(total, bands, thresholds)


def benchmark_calibration(path: Path | str | None = None) -> BenchmarkCalibration:
    """The benchmark's report, or an empty one whose `problem` says why (absent, unreadable, malformed).
    Never raises: the settings page must open whatever the file holds."""
    path = Path(path or REPORT_PATH)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return BenchmarkCalibration([], problem="no benchmark calibration yet")
    except (OSError, ValueError) as exc:
        return BenchmarkCalibration([], problem=f"the benchmark calibration cannot be read: {exc}")
    try:
        return _parse_report(data)
    except (KeyError, TypeError, ValueError) as exc:
        return BenchmarkCalibration([], problem=f"the benchmark calibration is malformed: {exc}")


def _parse_report(data: dict) -> BenchmarkCalibration:
    if data.get("version") != 1:
        raise ValueError(f"version {data.get('version')!r}, expected 1")
    bands = []
    for i, b in enumerate(data["bands"]):
        band = Band(float(b["low"]), float(b["high"]), int(b["count"]), float(b["mean_confidence"]),
                    float(b["observed_right"]))
        if not (0 <= band.low < band.high <= 1 and band.count >= 0 and 0 <= band.observed_right <= 1
                and 0 <= band.mean_confidence <= 1):
            raise ValueError(f"band {i} is out of range")
        if bands and band.low < bands[-1].high:
            raise ValueError(f"band {i} overlaps the one before")
        bands.append(band)
    return BenchmarkCalibration(bands, int(data.get("decisions") or sum(b.count for b in bands)),
                                str(data.get("generated_at", ""))[:40], str(data.get("source", ""))[:200])
