"""Settings, read from the environment with local defaults.

DATABASE_URL   the schema owner's connection (migrations run as it); the app itself connects to the
               same database as O2C_APP_DB_USER, a role that owns nothing and cannot bypass RLS.
REDIS_URL      Celery broker and result store; unset, tasks run in-process.
"""

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


def parse_database_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {parts.scheme!r}")
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    return {
        "ENGINE": "o2c.db",
        "NAME": unquote(parts.path.lstrip("/")) or "o2c",
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": int(os.environ.get("O2C_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
    }


DEBUG = env_bool("O2C_DEBUG", True)
_DEV_SECRET_KEY = "dev-only-not-secret-change-me-" + "x" * 20
SECRET_KEY = os.environ.get("O2C_SECRET_KEY") or _DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    # Sessions, password-reset links and signed cursors would be forgeable by anyone who read this file.
    raise ImproperlyConfigured("O2C_SECRET_KEY must be set to a long random value when O2C_DEBUG=0, e.g. "
                               "python -c 'import secrets; print(secrets.token_urlsafe(50))'")
ALLOWED_HOSTS = os.environ.get("O2C_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
# Set when a proxy of our own (nginx, a load balancer) is in front: only then is the last
# X-Forwarded-For hop believed as the client's address in the audit log.
O2C_BEHIND_PROXY = env_bool("O2C_BEHIND_PROXY", False)
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("O2C_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "o2c",  # first: its `migrate` runs as the schema owner
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "payments",
    "cashapp",
    "deductions",
    "disputes",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files from gunicorn too (docker-compose), with far-future caching.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Control characters (NUL) anywhere in the request are a 400 before any view: o2c/inputs.py.
    "o2c.middleware.InputGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "o2c.middleware.TenantMiddleware",
]

ROOT_URLCONF = "o2c.urls"
WSGI_APPLICATION = "o2c.wsgi.application"
AUTH_USER_MODEL = "o2c.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "o2c.context_processors.workspace",
            ],
        },
    },
]

# --- Database: the owner migrates, the app role serves -------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c")
O2C_APP_DB_USER = os.environ.get("O2C_APP_DB_USER", "o2c_app")
O2C_APP_DB_PASSWORD = os.environ.get("O2C_APP_DB_PASSWORD", "o2c_app")

_owner = parse_database_url(DATABASE_URL)
if os.environ.get("O2C_DB_NAME"):  # a Celery worker started by the tests points at their database
    _owner["NAME"] = os.environ["O2C_DB_NAME"]
# The planner's cost of a random page read, for the app's sessions. Postgres's default (4.0) assumes spinning
# disks: with it, a run's per-chunk statements by a list of 5,000 ids (payments to update, decisions to compare)
# flipped between index probes and a sequential scan of every payment of the tenant, chunk by chunk (9 of 20
# chunks of a 100k run, 0.4 s each). 1.1 is the usual value for SSDs and a cached working set.
O2C_DB_RANDOM_PAGE_COST = float(os.environ.get("O2C_DB_RANDOM_PAGE_COST", "1.1"))
DATABASES = {
    "default": {**_owner, "USER": O2C_APP_DB_USER, "PASSWORD": O2C_APP_DB_PASSWORD,
                "OPTIONS": {"options": f"-c random_page_cost={O2C_DB_RANDOM_PAGE_COST}"}},
    # Same database, as its owner. Used only by `migrate` and by tests that inspect the schema.
    "owner": {**_owner, "CONN_MAX_AGE": 0, "TEST": {"MIRROR": "default"}},
}
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("O2C_TEST_DB_NAME") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery -----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Invoice files up to this size import within the request (errors shown at once); bigger ones are handed to
# a Celery task and followed on a progress page (a million rows take longer than a request may).
O2C_INVOICE_IMPORT_INLINE_BYTES = int(os.environ.get("O2C_INVOICE_IMPORT_INLINE_BYTES", str(4 * 1024 * 1024)))
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves it on the queue
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis hands a task whose worker died (acks_late) to another worker once this many seconds have passed since
# it was delivered (Celery's default, made explicit because the reaper below is tied to it).
O2C_TASK_VISIBILITY_TIMEOUT = int(os.environ.get("O2C_TASK_VISIBILITY_TIMEOUT", "3600"))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": O2C_TASK_VISIBILITY_TIMEOUT}
# A matching run whose heartbeat is older than this is taken for dead (its worker was killed and no worker
# took its task up again within the visibility timeout): the reaper fails it and the next run resumes.
O2C_MATCHING_RUN_STALE_SECONDS = float(os.environ.get("O2C_MATCHING_RUN_STALE_SECONDS",
                                                      str(O2C_TASK_VISIBILITY_TIMEOUT)))
# A run with more payments than this posts from a process of its own (see cashapp.services.runs._ProcessWriter):
# the matcher then has the interpreter to itself. Smaller runs (intraday files) post from a thread.
O2C_MATCHING_WRITER_PROCESS_FROM = int(os.environ.get("O2C_MATCHING_WRITER_PROCESS_FROM", "20000"))
# When every waiting payment of each tenant is matched again: a crontab line (minute hour day-of-month month
# day-of-week, UTC), nightly by default; "off" turns it off. Retries on events (new invoices, aliases, a clerk's
# rejection) happen whatever this says.
_retry_crontab = os.environ.get("O2C_MATCHING_RETRY_CRONTAB", "30 2 * * *").split()
if _retry_crontab in (["off"], []):
    O2C_MATCHING_RETRY_SCHEDULE = None
elif len(_retry_crontab) == 5:
    _minute, _hour, _day, _month, _weekday = _retry_crontab
    O2C_MATCHING_RETRY_SCHEDULE = crontab(minute=_minute, hour=_hour, day_of_month=_day, month_of_year=_month,
                                          day_of_week=_weekday)
else:
    raise ImproperlyConfigured("O2C_MATCHING_RETRY_CRONTAB: expected five fields (minute hour day-of-month month "
                               f"day-of-week) or 'off', got {' '.join(_retry_crontab)!r}")

# Tenants whose match index a worker process keeps between runs, refreshed from the rows changed since
# (cashapp.warm): ~0.5 GB per million open invoices. 0 builds it afresh for every run.
O2C_MATCH_INDEX_CACHE_TENANTS = int(os.environ.get("O2C_MATCH_INDEX_CACHE_TENANTS", "1"))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "aging-snapshot-nightly": {
        "task": "reporting.tasks.snapshot_aging_all_tenants",
        "schedule": 60 * 60 * 24,
    },
    "disputes-escalate-overdue": {  # disputes whose state SLA ran out (business hours): escalate them
        "task": "disputes.tasks.escalate_overdue_all_tenants",
        "schedule": 60 * 5,
    },
    "cashapp-reap-stale-runs": {  # matching runs whose worker died: failed with the reason, the next one resumes
        "task": "cashapp.reap_stale_runs_all_tenants",
        "schedule": 60,
    },
    **({"cashapp-retry-waiting-payments": {  # every waiting payment matched again (see cashapp.runs, "retries")
        "task": "cashapp.retry_waiting_payments_all_tenants",
        "schedule": O2C_MATCHING_RETRY_SCHEDULE,
    }} if O2C_MATCHING_RETRY_SCHEDULE else {}),
    "deductions-intake": {  # deductions cash application inserted in SQL: reason codes, research, triage
        "task": "deductions.intake_all_tenants",
        "schedule": 60,
    },
}
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Auth, MFA, throttling, sessions ------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out attempts before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
AXES_FAILURE_LIMIT = int(os.environ.get("O2C_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "auth/locked_out.html"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "o2c"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 10
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- HTTPS: production (O2C_DEBUG=0) passes `manage.py check --deploy --fail-level WARNING` ----------
# (tests/test_deploy_settings.py). Each relaxation is a variable of its own, for plain-HTTP demos only:
# `docker compose up` and `make run` (scripts/run.py) serve http://localhost and set what they need.
SECURE_SSL_REDIRECT = env_bool("O2C_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("O2C_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Browsers then refuse plain HTTP to this host (and its subdomains) for a year, even when a link says http://.
# SecurityMiddleware sends the header on HTTPS responses only, so a plain-HTTP demo never pins itself.
SECURE_HSTS_SECONDS = int(os.environ.get("O2C_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 60 * 60)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("O2C_HSTS_INCLUDE_SUBDOMAINS", True)
# Off unless asked for: `preload` lets anyone submit the registrable domain to the browsers' built-in list,
# after which every host under it must serve HTTPS, and leaving the list takes months. o2c runs on its
# operators' domains; that is their decision to take (O2C_HSTS_PRELOAD=1), so the check that asks for
# preload (security.W021) is silenced while it is off.
SECURE_HSTS_PRELOAD = env_bool("O2C_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# TLS ends at the proxy: only a proxy of our own, which sets X-Forwarded-Proto and overwrites the client's,
# may tell Django the request came over HTTPS (otherwise every request would be redirected again, forever).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if O2C_BEHIND_PROXY else None
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if env_bool("O2C_FAST_PASSWORD_HASHER")  # tests only: hashing is not what they measure
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Content-Security-Policy (django-csp 4: the same shape as Django 6's SECURE_CSP) -------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "o2c.api_plumbing.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "o2c.api_plumbing.IdCursorPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "o2c.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"user": "600/min"},
}

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("O2C_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("O2C_FROM_EMAIL", "o2c <no-reply@o2c.local>")
O2C_BASE_URL = os.environ.get("O2C_BASE_URL", "http://127.0.0.1:8000")

# --- Static, i18n, logging -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Case documents (o2c/documents.py) go through the storage API: local files by default; any Django storage
# backend by setting, e.g. O2C_FILE_STORAGE=storages.backends.s3.S3Storage with django-storages[s3] installed
# and O2C_FILE_STORAGE_OPTIONS='{"bucket_name": "...", "endpoint_url": "..."}' for an S3-compatible store.
MEDIA_ROOT = Path(os.environ.get("O2C_MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"  # never served directly: documents are downloaded through views that check access
STORAGES = {
    "default": {
        "BACKEND": os.environ.get("O2C_FILE_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(os.environ.get("O2C_FILE_STORAGE_OPTIONS", "{}")),
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("O2C_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
