"""Production settings pass `manage.py check --deploy` with no warning, redirect to HTTPS and send HSTS,
while the plain-HTTP demos (`make run`, `docker compose up`) keep serving http://localhost.

Settings are read from the environment when o2c/settings.py is imported, so each configuration is loaded
in a subprocess with exactly its variables; the requests then go through the whole middleware stack here,
with the values that subprocess computed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[1]
SECURITY_SETTINGS = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                     "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                     "SILENCED_SYSTEM_CHECKS"]
ONE_YEAR = 365 * 24 * 60 * 60

PRODUCTION = {
    "O2C_DEBUG": "0",
    "O2C_SECRET_KEY": secrets.token_urlsafe(50),
    "O2C_ALLOWED_HOSTS": "o2c.example.com",
    "O2C_CSRF_TRUSTED_ORIGINS": "https://o2c.example.com",
    "O2C_BASE_URL": "https://o2c.example.com",
    "O2C_BEHIND_PROXY": "1",
    "DATABASE_URL": "postgresql://o2c_owner:secret@db.internal:5432/o2c",
    "O2C_APP_DB_PASSWORD": "app-secret",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def _clean_env(**variables) -> dict:
    """This process's environment without any o2c or Django setting: the test run's own are not production's
    (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses)."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("O2C_", "DJANGO_")) and k not in {"DATABASE_URL", "REDIS_URL"}}
    return {**keep, **variables}


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "o2c.settings"},
                          capture_output=True, text=True, timeout=120)


def _settings_under(env: dict) -> dict:
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))")
    result = _run([sys.executable, "-c", code], env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    if values["SECURE_PROXY_SSL_HEADER"]:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def test_check_deploy_passes_with_production_variables():
    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                  _clean_env(**PRODUCTION))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output and "WARNING" not in output


def test_production_settings_are_the_documented_ones():
    values = _settings_under(_clean_env(**PRODUCTION))
    assert values == {
        "DEBUG": False, "SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": ONE_YEAR,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": False,
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"), "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True, "SILENCED_SYSTEM_CHECKS": ["security.W021"]}
    # Preload is the domain owner's choice; asked for, it is sent and nothing is silenced any more.
    preload = _settings_under(_clean_env(**PRODUCTION, O2C_HSTS_PRELOAD="1"))
    assert (preload["SECURE_HSTS_PRELOAD"], preload["SILENCED_SYSTEM_CHECKS"]) == (True, [])


@pytest.mark.parametrize("key", [None, "", "dev-only-not-secret-change-me-" + "x" * 20])
def test_production_refuses_to_start_without_a_real_secret_key(key):
    env = _clean_env(**{k: v for k, v in PRODUCTION.items() if k != "O2C_SECRET_KEY"})
    if key is not None:
        env["O2C_SECRET_KEY"] = key
    result = _run([sys.executable, "manage.py", "check"], env)
    assert result.returncode != 0
    assert "O2C_SECRET_KEY must be set to a long random value when O2C_DEBUG=0" in result.stderr


def test_production_redirects_plain_http_and_sends_hsts_over_https(client, db):
    with override_settings(**_settings_under(_clean_env(**PRODUCTION))):
        plain = client.get("/login/?next=/invoices/")
        assert (plain.status_code, plain["Location"]) == (301, "https://testserver/login/?next=/invoices/")
        assert "Strict-Transport-Security" not in plain  # HSTS over plain HTTP means nothing to a browser
        for secure in ({"secure": True}, {"HTTP_X_FORWARDED_PROTO": "https"}):  # TLS here, or at our proxy
            page = client.get("/login/", **secure)
            assert page.status_code == 200
            assert page["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"
            assert page.cookies["csrftoken"]["secure"] is True


def _make_run_env(**variables) -> dict:
    spec = importlib.util.spec_from_file_location("o2c_make_run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run.serve_env(_clean_env(**variables), "127.0.0.1", "8000")


def _compose_env() -> dict:
    """docker-compose.yml's variables for the app, with the defaults it gives them."""
    environment = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"]
    return _clean_env(**{k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in environment.items()})


@pytest.mark.parametrize("configuration", ["make run", "make run with O2C_DEBUG=0", "docker compose up"])
def test_the_plain_http_demos_do_not_redirect_to_https(configuration, client, db):
    env = {"make run": _make_run_env, "docker compose up": _compose_env,
           "make run with O2C_DEBUG=0": lambda: _make_run_env(O2C_DEBUG="0", O2C_SECRET_KEY=secrets.token_urlsafe(50)),
           }[configuration]()
    values = _settings_under(env)
    assert (values["SECURE_SSL_REDIRECT"], values["SESSION_COOKIE_SECURE"]) == (False, False)
    with override_settings(**values):
        page = client.get("/login/")
        assert page.status_code == 200 and "Strict-Transport-Security" not in page
        assert page.cookies["csrftoken"]["secure"] == ""  # sent back by the browser over http


def test_every_celery_queue_has_a_worker_in_the_demo_and_in_compose():
    """Work is routed to a queue per kind (o2c.celery.QUEUES); a queue nobody consumes would hold its tasks
    forever, so `make run`'s worker and compose's workers together must consume every one."""
    from o2c.celery import all_queues, queue_of

    queues = set(all_queues("o2c").split(","))
    spec = importlib.util.spec_from_file_location("o2c_make_run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert set(run.WORKER_QUEUES.split(",")) == queues

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = set()
    for service in services.values():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "o2c", "worker"]:
            consumed |= set(command[command.index("--queues") + 1].split(","))
    assert consumed == queues
    assert queue_of("cashapp.matching_run_execute") == "o2c.matching"
    assert queue_of("payments.bank_file_upload_import") == "o2c.imports"
    assert queue_of("deductions.intake_all_tenants") == "o2c.periodic"
