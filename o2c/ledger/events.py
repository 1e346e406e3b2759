"""What the ledger tells the apps: small immutable records, handed over in bulk.

Apps subscribe in their `AppConfig.ready()`:

    from o2c.ledger import events

    @events.handles(events.DeductionOpened)
    def _open(batch: list[events.DeductionOpened]) -> None: ...

`dispatch()` runs inside the ledger operation's transaction, in subscription order, one call per event
type with every event of that type (a matching run opens thousands of deductions at once: one bulk
INSERT, not thousands). A handler that raises rolls the whole operation back. Handlers must not call
back into the ledger's write operations (that would nest dispatches); they enqueue work with
`transaction.on_commit` instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    pass


@dataclass(frozen=True, slots=True)
class InvoiceSettled(LedgerEvent):
    """The invoice's open balance reached zero."""

    invoice_id: int
    customer_id: int


@dataclass(frozen=True, slots=True)
class InvoiceReopened(LedgerEvent):
    """The invoice owes something again after having been settled (a reversal)."""

    invoice_id: int
    customer_id: int


@dataclass(frozen=True, slots=True)
class PaymentFullyApplied(LedgerEvent):
    payment_id: int


@dataclass(frozen=True, slots=True)
class DeductionOpened(LedgerEvent):
    """Cash application settled part of an invoice as a deduction (short pay, unearned discount)."""

    application_id: int
    payment_id: int
    invoice_id: int
    customer_id: int
    amount: Decimal
    currency: str
    reason: str
    reason_text: str = ""


@dataclass(frozen=True, slots=True)
class DeductionCancelled(LedgerEvent):
    """The application that opened a deduction was reversed."""

    application_id: int


@dataclass(frozen=True, slots=True)
class CreditMemoIssued(LedgerEvent):
    credit_memo_id: int
    customer_id: int
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class CreditMemoApplied(LedgerEvent):
    credit_memo_id: int
    invoice_id: int
    customer_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceWrittenOff(LedgerEvent):
    invoice_id: int
    customer_id: int
    amount: Decimal
    account: str
    reason: str


@dataclass(frozen=True, slots=True)
class InvoiceIssued(LedgerEvent):
    """A new receivable, e.g. a re-bill of an invalid deduction."""

    invoice_id: int
    customer_id: int
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class InstructionCompleted(LedgerEvent):
    """A payment instruction (credit memo, refund, write-off, re-bill, withholding, collection restart) is
    done; the app whose case asked for it (`origin_kind`: "deduction" or "dispute") closes its side."""

    instruction_id: int
    kind: str
    origin_kind: str
    origin_id: int
    amount: Decimal


Handler = Callable[[list], None]
_handlers: dict[type[LedgerEvent], list[Handler]] = defaultdict(list)


def handles(*event_types: type[LedgerEvent]) -> Callable[[Handler], Handler]:
    """Subscribe a bulk handler to event types. Subscribing the same function twice is a no-op (ready()
    can run more than once in tests)."""

    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            if handler not in _handlers[event_type]:
                _handlers[event_type].append(handler)
        return handler

    return register


def dispatch(events: Iterable[LedgerEvent]) -> None:
    """Hand each subscriber the events of its types, grouped by type in the order they first occur."""
    grouped: dict[type[LedgerEvent], list[LedgerEvent]] = {}
    for event in events:
        grouped.setdefault(type(event), []).append(event)
    for event_type, batch in grouped.items():
        for handler in _handlers.get(event_type, ()):
            handler(batch)
