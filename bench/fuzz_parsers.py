"""Fuzz every bank-file parser with structured mutations of the real fixtures; print per-parser counts.

    O2C_SHARED_DIR=../shared .venv/bin/python bench/fuzz_parsers.py [--inputs 1000000] [--workers 2]
        [--seed 1] [--engine hypothesis|random] [--save-crashes DIR]

What it does: the inputs are made by the mutators of tests/parser_fuzzing.py (the ones the Hypothesis tests in
tests/test_parser_fuzz.py draw from). With --engine hypothesis (the default) Hypothesis makes every choice of
the mutators (st.data(), its generate phase: no shrinking, no example database; a crash is counted, not
raised); --engine random drives the same mutators from a seeded random.Random, about twice as fast. Every
input is a fixture (or one of our seeds) with one to four structured
mutations (records deleted, duplicated, swapped, truncated; fields replaced by hostile values; counts,
totals, signs and type codes changed; XML nesting, DTDs, entities; wrong encodings, BOMs, byte damage), or
one in twenty is random bytes. Each input goes through the public dispatch (stream_bank_file, consumed to the
end) and the format's own parser. The contract: the input is accepted or refused with BankFileError.
Anything else is a crash; an input that takes more than --slow seconds is counted as slow (a hang is stopped
after --hang seconds and counted as a crash). Inputs are split evenly over the formats and over --workers
processes; the same --seed gives the same inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.parser_fuzzing import (  # noqa: E402
    FORMATS,
    RandomChooser,
    load_seeds,
    minimise,
    mutate,
    run_parsers,
    signature_of,
)

CHUNK = 2500
_SEEDS: dict = {}


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _chunk(task: tuple[str, str, int, int, int, float, float, int]) -> dict:
    engine, fmt, seed, index, count, slow, hang, keep = task
    if not _SEEDS:
        _SEEDS.update(load_seeds())
        signal.signal(signal.SIGALRM, _alarm)
    out = {"fmt": fmt, "inputs": 0, "accepted": 0, "refused": 0, "crashes": Counter(), "examples": {},
           "slow": 0, "max_s": 0.0, "seconds": 0.0}
    if engine == "hypothesis":
        _by_hypothesis(fmt, seed * 1_000_003 + index, count, lambda chooser: _one(chooser, fmt, out, slow, hang, keep))
    else:
        chooser = RandomChooser(random.Random(f"{seed}:{fmt}:{index}"))
        for _ in range(count):
            _one(chooser, fmt, out, slow, hang, keep)
    return out


def _by_hypothesis(fmt: str, seed: int, count: int, body) -> None:
    """`count` inputs whose every mutation choice Hypothesis draws. Only the generate phase: the benchmark counts
    crashes (the tests shrink them), and examples Hypothesis discards (too much data) are not counted."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from tests.parser_fuzzing import DrawChooser

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data):
        body(DrawChooser(data))

    fuzz()


def _one(chooser, fmt: str, out: dict, slow: float, hang: float, keep: int) -> None:
    data = mutate(chooser, fmt, _SEEDS)
    started = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, hang)
    try:
        accepted = run_parsers(fmt, data)
    except Exception as exc:  # noqa: BLE001 - a crash is what we count
        sig = "Hang" if isinstance(exc, Hang) else signature_of(exc)
        out["crashes"][sig] += 1
        kept = out["examples"].setdefault(sig, [])
        if len(kept) < keep:
            kept.append(data)
        accepted = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    took = time.perf_counter() - started
    out["seconds"] += took
    out["max_s"] = max(out["max_s"], took)
    out["slow"] += took > slow
    out["inputs"] += 1
    if accepted is True:
        out["accepted"] += 1
    elif accepted is False:
        out["refused"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", choices=("hypothesis", "random"), default="hypothesis")
    ap.add_argument("--slow", type=float, default=1.0, help="seconds after which an input counts as slow")
    ap.add_argument("--hang", type=float, default=20.0, help="seconds after which an input is stopped as a hang")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of " + ", ".join(FORMATS))
    ap.add_argument("--save-crashes", type=Path, help="write crashing inputs here, minimised, one folder per format")
    ap.add_argument("--keep", type=int, default=1, help="crashing inputs kept per crash signature")
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f in FORMATS]
    per_format = args.inputs // len(formats)
    tasks = [(args.engine, fmt, args.seed, i, min(CHUNK, per_format - start), args.slow, args.hang, args.keep)
             for fmt in formats for i, start in enumerate(range(0, per_format, CHUNK))]
    random.Random(args.seed).shuffle(tasks)  # formats differ in cost; mixing keeps both workers busy
    totals = {fmt: {"inputs": 0, "accepted": 0, "refused": 0, "crashes": Counter(), "examples": {}, "slow": 0,
                    "max_s": 0.0, "seconds": 0.0} for fmt in formats}
    started = time.perf_counter()
    with Pool(args.workers) as pool:
        for done, part in enumerate(pool.imap_unordered(_chunk, tasks), start=1):
            t = totals[part["fmt"]]
            for key in ("inputs", "accepted", "refused", "slow", "seconds"):
                t[key] += part[key]
            t["max_s"] = max(t["max_s"], part["max_s"])
            t["crashes"].update(part["crashes"])
            for sig, found in part["examples"].items():
                kept = t["examples"].setdefault(sig, [])
                kept.extend(found[:args.keep - len(kept)])
            if done % 40 == 0:
                print(f"  {sum(x['inputs'] for x in totals.values()):>9,} inputs, "
                      f"{time.perf_counter() - started:6.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    _report(totals, wall, args)
    if args.save_crashes:
        _save(totals, args.save_crashes)


def _report(totals: dict, wall: float, args) -> None:
    print(f"{'parser':<9} {'inputs':>9} {'accepted':>9} {'refused':>9} {'crashes':>7} {'slow':>5} "
          f"{'max ms':>7} {'inputs/s':>9}")
    for fmt, t in totals.items():
        crashes = sum(t["crashes"].values())
        rate = t["inputs"] / t["seconds"] if t["seconds"] else 0
        print(f"{fmt:<9} {t['inputs']:>9,} {t['accepted']:>9,} {t['refused']:>9,} {crashes:>7,} {t['slow']:>5} "
              f"{t['max_s'] * 1000:>7.0f} {rate:>9,.0f}")
        for sig, n in t["crashes"].most_common():
            print(f"    {n:>7,} x {sig}")
    n = sum(t["inputs"] for t in totals.values())
    crashes = sum(sum(t["crashes"].values()) for t in totals.values())
    print(f"engine: {args.engine}")
    print(f"total     {n:>9,} inputs, {crashes} crashes, {sum(t['slow'] for t in totals.values())} slow, "
          f"{wall:.0f} s wall on {args.workers} workers = {n / wall:,.0f} inputs/s")
    subset = f" --formats {args.formats}" if args.formats != ",".join(FORMATS) else ""
    print(f"command: O2C_SHARED_DIR={os.environ.get('O2C_SHARED_DIR', '../shared')} python bench/fuzz_parsers.py "
          f"--inputs {args.inputs} --workers {args.workers} --seed {args.seed} --engine {args.engine}{subset}")


def _save(totals: dict, root: Path) -> None:
    for fmt, t in totals.items():
        for sig, found in t["examples"].items():
            for data in found:
                small = data if sig == "Hang" else minimise(fmt, data, sig)
                folder = root / fmt
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{hashlib.sha256(small).hexdigest()[:16]}.bin").write_bytes(small)
                print(f"saved {fmt} {sig}: {len(data)} -> {len(small)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
