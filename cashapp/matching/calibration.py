"""Calibration: the matcher's raw score mapped to the confidence it reports, so that of the decisions reported at
0.95 about 95 % are right, and the tenant's `auto_apply_threshold` means "probability the posting is right".

The map is a monotone piecewise-linear table of (raw, calibrated) points in `calibration.json` next to this
module, the identity until fitted. `fit()` makes one from (raw score, was it right) pairs: isotonic regression
(pool adjacent violators) over the pairs sorted by score, each pooled block holding its share right over its span
of scores. Monotone, so the matcher's ranking of proposals never changes, only what the numbers say.
bench/calibrate.py feeds it the per-decision rows of a labelled benchmark and writes the table.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("calibration.json")
IDENTITY = ((0.0, 0.0), (1.0, 1.0))


def load(path: Path = TABLE_PATH) -> tuple[tuple[float, float], ...]:
    """The table in `path`, or the identity when there is none. A table that is not monotone is refused."""
    if not path.exists():
        return IDENTITY
    points = tuple((float(x), float(y)) for x, y in json.loads(path.read_text())["points"])
    check(points)
    return points


def check(points) -> None:
    if len(points) < 2:
        raise ValueError("a calibration table needs at least two points")
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if not (x0 < x1 and y0 <= y1):
            raise ValueError(f"calibration table not increasing at {x0}, {x1}")
    if not all(0.0 <= v <= 1.0 for point in points for v in point):
        raise ValueError("calibration points must lie in [0, 1]")


_TABLE = load()
_XS = [x for x, _ in _TABLE]


def calibrated(raw: float, points=None) -> float:
    """`raw` through the table, linear between its points and flat beyond its ends."""
    if points is None:
        points, xs = _TABLE, _XS
        if points is IDENTITY:
            return raw
    else:
        xs = [x for x, _ in points]
    k = bisect_right(xs, raw)
    if k == 0:
        return points[0][1]
    if k == len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[k - 1], points[k]
    return y0 + (y1 - y0) * (raw - x0) / (x1 - x0)


def fit(pairs: Iterable[tuple[float, bool]], *, min_block: int = 20) -> tuple[tuple[float, float], ...]:
    """A monotone table from (raw score, right) pairs: pool adjacent violators over blocks of at least
    `min_block` decisions (fewer make a rate too noisy to trust), each block its share right from its lowest to
    its highest score, flat beyond the first and last block so that every score in [0, 1] maps somewhere."""
    # Decisions of one score are one unit (their order says nothing); units gathered into blocks of min_block.
    units: dict[float, list[float]] = {}
    for score, ok in pairs:
        unit = units.setdefault(float(score), [0.0, 0])
        unit[0] += 1.0 if ok else 0.0
        unit[1] += 1
    if not units:
        return IDENTITY
    blocks = []  # [lowest score, highest score, sum right, count]
    for score in sorted(units):
        right, count = units[score]
        if blocks and blocks[-1][3] < min_block:
            blocks[-1] = _merge(blocks[-1], [score, score, right, count])
        else:
            blocks.append([score, score, right, count])
    if len(blocks) > 1 and blocks[-1][3] < min_block:
        blocks[-2:] = [_merge(*blocks[-2:])]
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][2] / pooled[-2][3] >= pooled[-1][2] / pooled[-1][3]:
            pooled[-2:] = [_merge(*pooled[-2:])]
    # Each pooled block holds its rate over the whole span of its scores (a point at each end), so that scores
    # between two far apart blocks are interpolated, not the scores inside one block.
    points: list[tuple[float, float]] = []
    for low, high, right, count in pooled:
        rate = round(right / count, 6)
        for x in dict.fromkeys((round(low, 6), round(high, 6))):
            if points and x <= points[-1][0]:
                points[-1] = (points[-1][0], max(points[-1][1], rate))  # a score shared by two blocks: the later
            else:
                points.append((x, rate))
    # Flat beyond the data: a score below (above) every one seen gets the lowest (highest) block's rate.
    if points[0][0] > 0.0:
        points.insert(0, (0.0, points[0][1]))
    if points[-1][0] < 1.0:
        points.append((1.0, points[-1][1]))
    check(points)
    return tuple(points)


def _merge(a: list[float], b: list[float]) -> list[float]:
    return [min(a[0], b[0]), max(a[1], b[1]), a[2] + b[2], a[3] + b[3]]


def write(points, path: Path = TABLE_PATH, **about) -> None:
    check(points)
    path.write_text(json.dumps({"points": [list(p) for p in points], **about}, indent=1) + "\n")
