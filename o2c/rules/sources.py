"""Where the cases come from: each app registers one `CaseSource` per kind from its AppConfig.ready().

The kernel imports no app; it reaches deductions and disputes only through these callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ApplicationError


@dataclass(frozen=True)
class CaseSource:
    kind: str  # "deduction" or "dispute"
    facts: Callable[[list[int]], dict[int, dict]]  # {case id: CEL variables}, schema in engine.FACT_TYPES
    apply: Callable[[list], None]  # list[TriageDecision]: the app carries the actions out and audits them
    recent: Callable[[int], list[int]]  # ids of the cases created in the last `days` days
    describe: Callable[[list[int]], dict[int, str]]  # {case id: "D-000012 Acme 42.00 USD"} for dry runs


_SOURCES: dict[str, CaseSource] = {}


def register_case_source(source: CaseSource) -> None:
    """Register (or replace: a reloaded app, a benchmark) the source of one kind of case."""
    _SOURCES[source.kind] = source


def case_source(kind: str) -> CaseSource:
    try:
        return _SOURCES[kind]
    except KeyError:
        raise ApplicationError(f"no case source is registered for {kind!r} cases") from None


def registered_kinds() -> list[str]:
    return sorted(_SOURCES)
