"""Reading numbers, money, ids and text from the web: one way, and anything hostile is a 400 naming the field.

Why one way: each view that read `request.GET` by hand met the hostile values on its own and some lost.
Postgres refuses a NUL in text; `Decimal` takes "NaN", "sNaN", "Infinity" and "1e999999", which then
fail in a comparison or in the database; `int()` takes a 30-digit id that overflows bigint. Each was a
500. Here every value is checked once, before any query:

- text: no control characters (tab, line feed and carriage return are text), at most `max_length`;
- integers and ids: digits only, within the bounds (ids: a positive bigint);
- amounts: finite, within the money column, no more decimals than the currency's minor unit
  (o2c.money.parse_amount: refused, never rounded).

A violation raises `BadInput` (an ApplicationError, so services' error path applies): the API's error
handler makes it a 400 JSON error, `InputGuardMiddleware` a 400 page on the web, and a view that re-renders
its form with the message may catch it like any ApplicationError. The middleware also refuses control
characters in any query string, form field or JSON string before a view runs, so a view that forgets
to use this module still never hands a NUL to the database.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils.http import url_has_allowed_host_and_scheme

from .errors import ApplicationError
from .money import parse_amount

# C0 controls other than tab, LF and CR; DEL; C1 controls. Lone surrogates cannot be stored either.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
BIGINT_MAX = 2**63 - 1
QUERY_VALUE_MAX = 1000  # no filter, search or cursor of o2c is longer; a longer one is not a person typing
_INTEGER = re.compile(r"[+-]?\d{1,19}")


class BadInput(ApplicationError):
    """A request parameter that is not what the page or endpoint reads: the request is refused (400)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def control_character_problem(value: str) -> str | None:
    match = CONTROL_CHARACTERS.search(value)
    return f"contains a control character (U+{ord(match.group()):04X})" if match else None


def check_text(value: str, *, field: str, max_length: int) -> str:
    problem = control_character_problem(value)
    if problem:
        raise BadInput(field, problem)
    if len(value) > max_length:
        raise BadInput(field, f"is {len(value):,} characters long; at most {max_length:,} are allowed")
    return value


def text(params, name: str, *, default: str = "", max_length: int = 200, strip: bool = True) -> str:
    """A text parameter; missing is `default`."""
    value = params.get(name)
    if value is None:
        return default
    value = check_text(str(value), field=name, max_length=max_length)
    return value.strip() if strip else value


def parse_integer(value, *, field: str, min_value: int = 1, max_value: int = BIGINT_MAX) -> int:
    raw = str(value).strip()
    if not _INTEGER.fullmatch(raw):
        raise BadInput(field, f"{raw[:40]!r} is not a whole number")
    number = int(raw)
    if not min_value <= number <= max_value:
        raise BadInput(field, f"{number} is out of range ({min_value} to {max_value})")
    return number


def integer(params, name: str, *, min_value: int = 1, max_value: int = BIGINT_MAX) -> int | None:
    """A whole number, by default a database id (a positive bigint); missing or empty is None."""
    value = params.get(name)
    if value is None or str(value).strip() == "":
        return None
    return parse_integer(value, field=name, min_value=min_value, max_value=max_value)


def id_list(params, name: str, *, limit: int = 1000) -> list[int]:
    values = params.getlist(name)
    if len(values) > limit:
        raise BadInput(name, f"{len(values)} ids; at most {limit} at once")
    return [parse_integer(v, field=name) for v in values if str(v).strip()]


def amount(value, *, field: str, currency: str = "USD") -> Decimal:
    """An amount typed by a person: finite, in range, no more decimals than `currency` has."""
    check_text(str(value), field=field, max_length=40)
    return parse_amount(str(value), currency, label=field)


def amount_or_none(value: str, currency: str = "USD") -> Decimal | None:
    """`value` as an amount when it is one (a search box that also finds amounts), else None; never raises."""
    try:
        return amount(value, field="q", currency=currency)
    except ApplicationError:
        return None


def safe_next(request, fallback: str) -> str:
    """The `next` the form sent when it is a URL of this site, else `fallback`: never an open redirect."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    # A path of this site only: "NaN" would pass the host check as a relative URL, and redirect() would
    # then look it up as a view name (a 500).
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


# --- the middleware's check of a whole request (o2c.middleware.InputGuardMiddleware) ---------------

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_CHECK_MAX_BYTES = 5 * 1024 * 1024  # bigger JSON is no o2c request; DRF refuses what it cannot parse


def request_problem(request) -> None:
    """Raise BadInput for the first control character anywhere a view could read text from, or a query
    value longer than QUERY_VALUE_MAX."""
    check_text(request.path, field="path", max_length=2000)
    for name, values in request.GET.lists():
        check_text(name, field="query parameter name", max_length=100)
        for value in values:
            check_text(value, field=name, max_length=QUERY_VALUE_MAX)
    content_type = request.content_type or ""
    if request.method == "POST" and content_type in _FORM_TYPES:
        _check_form(request.POST, request.FILES)
    elif request.method in ("PUT", "PATCH") and content_type == _FORM_TYPES[0]:
        from django.http import QueryDict

        _check_form(QueryDict(request.body, encoding=request.encoding), {})
    elif content_type == "application/json" and 0 < len(request.body) <= JSON_CHECK_MAX_BYTES:
        _check_json(request.body)


def _check_form(post, files) -> None:
    for name, values in post.lists():
        check_text(name, field="form field name", max_length=100)
        for value in values:
            check_text(value, field=name, max_length=10**6)
    for name, upload in files.items():
        check_text(upload.name or "", field=f"{name} (file name)", max_length=255)


def _check_json(body: bytes) -> None:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return  # not JSON: the parser of the endpoint refuses it with its own 400
    except RecursionError:  # which the parser would not catch (a 500)
        raise BadInput("body", "is nested too deeply") from None
    stack = [("body", data)]
    while stack:
        field, value = stack.pop()
        if isinstance(value, str):
            check_text(value, field=field, max_length=10**6)
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, field=f"{field} key", max_length=200)
                stack.append((key, item))
        elif isinstance(value, list):
            stack.extend((field, item) for item in value)
