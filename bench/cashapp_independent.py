"""Independent cash-application benchmark through the real commands (see bench/README.md).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/cashapp_independent.py \
        --payments 3000 --invoices 20000 --customers 1000 --seed 1 --formats camt053,bai2,mt940 [--keep DIR]

Generates the book and the bank files (bench/independent), then for each format: a fresh database
(<name>_indep_<format>: dropped, created, migrated, tenant created), `import_invoices`, `import_bank_file`,
`apply_cash`, `export_cash_application` as subprocesses, each timed with its peak memory; the export is
scored against the truth next to an exact-reference baseline computed from the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.independent import score as S  # noqa: E402
from bench.independent import writers as W  # noqa: E402
from bench.independent.generate import DAY2_CASES, make_book, make_day2  # noqa: E402
from bench.invoice_list import machine_speed  # noqa: E402

TENANT = "indep"
# Runs the command and prints its peak RSS last. Linux carries a process's peak RSS across fork and exec, so a
# command forked straight from this (large) process would report at least this process's size; forked from
# this small wrapper, it reports its own.
_WRAP = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
         "print('@@maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)")
INTRADAY = 10


def _url(db: str) -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c"))
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, ""))


def _base_db() -> str:
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c")
    return urlsplit(url).path.lstrip("/") or "o2c"


def fresh_database(db: str) -> None:
    import psycopg

    with psycopg.connect(_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def server_settings() -> str:
    """The Postgres the figures come from: its version and the settings that move bulk work the most."""
    import psycopg

    with psycopg.connect(_url("postgres"), autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        rows = conn.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                            [["shared_buffers", "max_wal_size", "synchronous_commit", "work_mem"]]).fetchall()
    return f"postgres {version}: " + ", ".join(f"{name} {value}" for name, value in rows)


def decision_confidences(db: str) -> dict[str, float]:
    """The matcher's confidence in its latest decision per payment, by bank reference, read from the database the
    commands wrote (the export does not carry it): what the calibration is fitted and checked on."""
    import psycopg

    with psycopg.connect(_url(db)) as conn:
        rows = conn.execute("SELECT p.bank_reference, m.confidence FROM cashapp_paymentmatch m "
                            "JOIN payments_payment p ON p.tenant_id = m.tenant_id AND p.id = m.payment_id "
                            "WHERE m.confidence IS NOT NULL").fetchall()
    return {ref: float(conf) for ref, conf in rows}


def write_calibration_rows(rows: list[dict], path: Path) -> int:
    """One JSON line per decision that proposed something: its confidence and whether posting its best proposal
    would have been right (bench/calibrate.py reads these)."""
    lines = [json.dumps({"raw": r["confidence"], "correct": bool(r["correct"]), "case": r["case"]})
             for r in rows if r["confidence"] != "" and r["decision"] in ("applied", "partial", "suggested")]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (every process: the command, its children, and the
    Postgres backends serving it), or None where /proc/stat is not there."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run(db: str, *args: str) -> tuple[float, int, str, float | None]:
    """A manage.py command against db: (seconds, peak RSS in MiB of that process, its output, CPU seconds the whole
    machine spent while it ran). On a quiet machine the last is the command's whole cost, Postgres's part included:
    divided by the cores, it is the least wall time any schedule of that work could take here."""
    busy = _machine_busy_seconds()
    env = {"O2C_SECRET_KEY": "bench-only-not-secret-" + "b" * 40, "O2C_SECURE_COOKIES": "0", "O2C_SSL_REDIRECT": "0",
           **os.environ, "DATABASE_URL": _url(db), "O2C_DEBUG": "0", "O2C_LOG_LEVEL": "WARNING"}
    env.pop("O2C_DB_NAME", None)
    env.pop("REDIS_URL", None)  # Celery eager: nothing is left for a worker
    started = time.perf_counter()
    command = [sys.executable, *args] if args[0] == "-m" else [sys.executable, str(ROOT / "manage.py"), *args]
    proc = subprocess.Popen([sys.executable, "-c", _WRAP, *command], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    proc.wait()
    seconds = time.perf_counter() - started
    cpu = None if busy is None else _machine_busy_seconds() - busy
    out, _, rss = out.rpartition("@@maxrss ")
    if proc.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{out}")
    return seconds, int(rss.strip() or 0) // 1024, out.strip(), cpu


def generate(args, out: Path):
    t = time.perf_counter()
    cpu = time.process_time()
    # With --intraday, 10 more payments of the same book are held out of the day's file and arrive later.
    held = INTRADAY if args.intraday else 0
    book = make_book(seed=args.seed, n_invoices=args.invoices, n_customers=args.customers,
                     n_payments=args.payments + held, scheme=args.scheme)
    gen = time.perf_counter() - t
    main = book.payments[:args.payments]
    # Day 2 takes more open invoices of the same customers (and may re-draw an amount): before the CSV.
    book.day2 = make_day2(book, main) if args.learning else []
    (out / "invoices.csv").write_bytes(W.invoices_csv(book))
    S.write_truth(book, out, args.payments)
    files = {}
    for fmt in args.formats:
        data, refs = W.WRITERS[fmt](book, main)
        path = out / f"payments.{fmt}.{W.EXTENSIONS[fmt]}"
        path.write_bytes(data)
        files[fmt] = (path, refs)
        if fmt == "lockbox":
            (out / "lockbox_refs.json").write_text(json.dumps(dict(zip(refs, (p.bank_reference for p in main),
                                                                       strict=True))))
    total = time.perf_counter() - t
    print(f"generated {len(book.numbers):,} invoices ({book.scheme} numbering), {len(book.customers):,} customers, "
          f"{len(main):,} payments in {gen:.1f} s; all files written in {total:.1f} s "
          f"({time.process_time() - cpu:.1f} s CPU)")
    return book, main, files


def one_format(args, book, main, fmt: str, path: Path, refs: list[str], out: Path) -> dict:
    db = f"{_base_db()}_indep_{fmt}"
    timings = {}
    t = time.perf_counter()
    fresh_database(db)
    timings["migrate"] = run(db, "migrate", "--verbosity", "0")
    timings["create_tenant"] = run(db, "create_tenant", TENANT, "--name", "Independent Bench")
    setup = time.perf_counter() - t
    timings["import_invoices"] = run(db, "import_invoices", "--tenant", TENANT, str(out / "invoices.csv"))
    # The file alone (the import target), then one matching run of all of it (its apply_cash target); an
    # import without --no-match would run the matching inside the command (Celery eager without a worker).
    timings["import_bank_file"] = run(db, "import_bank_file", "--no-match", "--tenant", TENANT, str(path))
    timings["apply_cash"] = run(db, "apply_cash", "--tenant", TENANT)
    export = out / f"export.{fmt}.csv"
    timings["export"] = run(db, "export_cash_application", "--tenant", TENANT, "--out", str(export))
    per, rows = S.score(main, refs, S.read_export(export))
    confidences = decision_confidences(db)
    for row in rows:
        row["confidence"] = confidences.get(row["bank_reference"], "")
    S.write_rows(rows, out / f"decisions.{fmt}.csv")
    write_calibration_rows(rows, out / f"calibration.{fmt}.jsonl")
    base, _ = S.score(main, refs, S.baseline(book, path.read_bytes(), path.name))
    print(f"\n=== {fmt} ({path.stat().st_size / 1e6:.1f} MB; fresh database {db} in {setup:.1f} s)")
    cores = os.cpu_count() or 1
    for name in ("import_invoices", "import_bank_file", "apply_cash", "export"):
        sec, rss, text, cpu = timings[name]
        floor = "" if cpu is None else f"  machine CPU {cpu:5.1f} s (/{cores} cores: {cpu / cores:4.1f} s)"
        print(f"  {name:<17}{sec:7.1f} s  peak {rss:5d} MiB{floor}  | {text.splitlines()[-1][:90] if text else ''}")
    print(S.report(f"o2c      {fmt}", per), end="")
    print(S.report(f"baseline {fmt}", base), end="")
    if args.intraday:
        intraday(args, book, db, out)
    return {"format": fmt, "o2c": S.summary(per), "baseline": S.summary(base),
            "seconds": {k: round(v[0], 2) for k, v in timings.items()},
            "peak_mib": {k: v[1] for k, v in timings.items()},
            "machine_cpu_seconds": {k: None if v[3] is None else round(v[3], 2) for k, v in timings.items()}}


def intraday(args, book, db: str, out: Path) -> None:
    """After the big load and run: the 10 held-out payments arrive as a camt.053; import + match wall time."""
    data, _ = W.camt(book, book.payments[args.payments:], "053")
    path = out / "intraday.camt053.xml"
    path.write_bytes(data.replace(b"STM2026-03-02", b"ITD2026-03-02"))
    t1 = run(db, "import_bank_file", "--tenant", TENANT, str(path))
    t2 = run(db, "apply_cash", "--tenant", TENANT)
    print(f"  intraday: 10-payment camt.053 import {t1[0]:.1f} s + apply_cash {t2[0]:.1f} s = {t1[0] + t2[0]:.1f} s "
          f"wall (each a new process: Django start-up included; apply_cash also re-examines every payment still "
          f"waiting) | {t2[2].splitlines()[-1][:90]}")


def learning(args, book, main, out: Path) -> None:
    """Day 1 (camt.053) matched; the right suggestions confirmed by a clerk, or not; then day 2: the same payers
    writing the same way, for other invoices. Day 2's auto rate with and without day 1's confirmations."""
    day1, _ = W.camt(book, main, "053")
    day2, refs2 = W.camt(book, book.day2, "053")
    (out / "learn_day1.camt053.xml").write_bytes(day1)
    (out / "learn_day2.camt053.xml").write_bytes(day2.replace(b"STM2026-03-02", b"STM2026-03-03"))
    print(f"\n=== learning: day 1 {len(main)} payments, day 2 {len(book.day2)} payments "
          f"(cases {', '.join(DAY2_CASES)}), camt.053")
    for confirm in (True, False):
        db = f"{_base_db()}_indep_learn_{'yes' if confirm else 'no'}"
        fresh_database(db)
        run(db, "migrate", "--verbosity", "0")
        run(db, "create_tenant", TENANT, "--name", "Independent Bench")
        run(db, "import_invoices", "--tenant", TENANT, str(out / "invoices.csv"))
        run(db, "import_bank_file", "--tenant", TENANT, str(out / "learn_day1.camt053.xml"))
        run(db, "apply_cash", "--tenant", TENANT)
        said = ""
        if confirm:
            sec, _, said, _ = run(db, "-m", "bench.independent.confirm", "--tenant", TENANT, "--truth",
                               str(out / "truth.json"))
            said = f" (clerk: {said.splitlines()[-1]}, {sec:.1f} s)"
        run(db, "import_bank_file", "--tenant", TENANT, str(out / "learn_day2.camt053.xml"))
        run(db, "apply_cash", "--tenant", TENANT)
        export = out / f"export.learn_{'yes' if confirm else 'no'}.csv"
        run(db, "export_cash_application", "--tenant", TENANT, "--out", str(export))
        per, _ = S.score(book.day2, refs2, S.read_export(export))
        title = "day 2 after day-1 confirmations" if confirm else "day 2 without confirmations   "
        print(S.report(title, per).rstrip("\n").replace("\n", "\n", 1) + said)


# (invoices, payments); a payment uses 1.4 invoices on average, so 10k invoices carry at most ~7k payments.
GROWTH = "10000x2000,100000x10000,1000000x10000,1000000x100000"


def growth(args, out: Path) -> None:
    """Time of each command as the book and the file grow (camt.053, one fresh database per level)."""
    levels = [tuple(int(n) for n in level.split("x")) for level in args.growth.split(",")]
    print(f"\n=== growth (camt.053; levels up to {args.growth_max:,} invoices; customers = invoices / 200)")
    print(f"  {'invoices':>10}{'payments':>10}{'import_inv':>12}{'import_bank':>12}{'apply_cash':>11}{'export':>8}"
          f"{'auto ok %':>10}{'wrong':>7}")
    for n_inv, n_pay in levels:
        if n_inv > args.growth_max:
            continue
        book = make_book(seed=args.seed, n_invoices=n_inv, n_customers=max(100, n_inv // 200), n_payments=n_pay,
                         scheme=args.scheme)
        level = out / f"growth_{n_inv}_{n_pay}"
        level.mkdir(exist_ok=True)
        (level / "invoices.csv").write_bytes(W.invoices_csv(book))
        data, refs = W.camt(book, book.payments, "053")
        (level / "payments.xml").write_bytes(data)
        db = f"{_base_db()}_indep_growth"
        fresh_database(db)
        run(db, "migrate", "--verbosity", "0")
        run(db, "create_tenant", TENANT, "--name", "Independent Bench")
        t = [run(db, "import_invoices", "--tenant", TENANT, str(level / "invoices.csv"))[0],
             run(db, "import_bank_file", "--no-match", "--tenant", TENANT, str(level / "payments.xml"))[0],
             run(db, "apply_cash", "--tenant", TENANT)[0],
             run(db, "export_cash_application", "--tenant", TENANT, "--out", str(level / "export.csv"))[0]]
        s = S.summary(S.score(book.payments, refs, S.read_export(level / "export.csv"))[0])
        print(f"  {n_inv:>10,}{n_pay:>10,}{t[0]:>11.1f}s{t[1]:>11.1f}s{t[2]:>10.1f}s{t[3]:>7.1f}s"
              f"{s['auto_correct_pct']:>10.2f}{s['wrong']:>7}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--payments", type=int, default=3000)
    ap.add_argument("--invoices", type=int, default=20000)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scheme", choices=["SI", "INV", "DIGITS"], help="invoice numbering (default: by seed)")
    ap.add_argument("--formats", default="camt053,bai2,mt940",
                    help="comma-separated: " + ",".join(W.WRITERS))
    ap.add_argument("--keep", type=Path, help="write the files and results here (kept) instead of a temp dir")
    ap.add_argument("--generate-only", action="store_true", help="write the files and truth, touch no database")
    ap.add_argument("--intraday", action="store_true", help="after each format's run, a 10-payment camt.053")
    ap.add_argument("--learning", action="store_true", help="day 2 with and without day 1's confirmations")
    ap.add_argument("--growth", nargs="?", const=GROWTH, metavar="INVxPAY,...",
                    help=f"time the commands at growing sizes (default levels {GROWTH})")
    ap.add_argument("--growth-max", type=int, default=100_000, help="largest book of --growth (default 100,000)")
    args = ap.parse_args()
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in args.formats if f not in W.WRITERS]
    if unknown:
        ap.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(W.WRITERS)}")
    print(machine_speed())
    if not args.generate_only:
        print(server_settings())
    print("reproduce: " + " ".join(["bench/cashapp_independent.py", *sys.argv[1:]]))
    out = args.keep or Path(tempfile.mkdtemp(prefix="o2c_indep_"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")
    book, main, files = generate(args, out)
    if args.generate_only:
        print(f"files in {out}")
        return
    if args.growth:
        growth(args, out)
    results = [one_format(args, book, main, fmt, *files[fmt], out) for fmt in args.formats]
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if args.learning:
        learning(args, book, main, out)
    if args.keep:
        print(f"\nper-decision rows: {out}/decisions.<format>.csv, calibration.<format>.jsonl (bench/calibrate.py); "
              "results.json")
    else:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
