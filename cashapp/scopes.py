"""What a matching run looks at: its scope, among the payments waiting for an answer (unapplied, not decided by
a clerk).

A run looks at every waiting payment ("Run matching now", `apply_cash`, the nightly retry), or only at those
that something just made worth another look: the payments of a bank file (and those its remittance advice
was linked to), the waiting payments whose identified payer is one of some customers (new invoices for them),
those without an identified payer (a new alias or bank account might name it), or single payments (a clerk
rejected one of their suggestions). A scope names its payments by these criteria, not by a list taken when it
was asked for: like a run of everything, a queued run reads them when it starts, so a payment that arrived
meanwhile in one of its files, or whose payer was identified meanwhile, is not missed.

One run per tenant is queued at a time, and later requests join it: the queued run's scope then becomes the
union of both (`RunScope.union`), and anything joined with "all" is "all".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from payments.models import RemittanceAdvice

# A retry naming more customers or payments than this looks at every waiting payment instead: a scope is stored
# on the run's row and read back as a list, and a retry that wide costs a run of everything anyway.
MAX_NAMED = 5000


@dataclass(frozen=True)
class RunScope:
    everything: bool = False
    bank_files: frozenset[int] = frozenset()
    customers: frozenset[int] = frozenset()  # waiting payments whose identified payer is one of these
    payerless: bool = False  # waiting payments without an identified payer
    payments: frozenset[int] = frozenset()

    @classmethod
    def all(cls) -> RunScope:
        return cls(everything=True)

    @classmethod
    def of(cls, *, bank_files=(), customers=(), payerless: bool = False, payments=()) -> RunScope:
        scope = cls(bank_files=frozenset(bank_files), customers=frozenset(customers), payerless=payerless,
                    payments=frozenset(payments))
        return cls.all() if max(len(scope.customers), len(scope.payments)) > MAX_NAMED else scope

    @property
    def empty(self) -> bool:
        return not (self.everything or self.bank_files or self.customers or self.payerless or self.payments)

    def union(self, other: RunScope) -> RunScope:
        if self.everything or other.everything:
            return RunScope.all()
        return RunScope.of(bank_files=self.bank_files | other.bank_files, customers=self.customers | other.customers,
                           payerless=self.payerless or other.payerless, payments=self.payments | other.payments)

    def covers(self, other: RunScope) -> bool:
        return self.union(other) == self

    def filter(self) -> Q:
        """The condition on Payment that keeps this scope's payments."""
        if self.everything:
            return Q()
        q = Q(pk__in=[])
        if self.bank_files:
            files = sorted(self.bank_files)
            # A remittance file's advice explains payments of earlier files: those are looked at again too.
            q |= Q(bank_file_id__in=files) | Q(pk__in=RemittanceAdvice.objects.filter(
                bank_file_id__in=files, payment_id__isnull=False).values("payment_id"))
        if self.customers:
            q |= Q(customer_id__any=sorted(self.customers))
        if self.payerless:
            q |= Q(customer_id__isnull=True)
        if self.payments:
            q |= Q(pk__any=sorted(self.payments))
        return q

    def to_json(self) -> dict:
        if self.everything:
            return {"all": True}
        return {k: v for k, v in (("bank_files", sorted(self.bank_files)), ("customers", sorted(self.customers)),
                                  ("payerless", self.payerless), ("payments", sorted(self.payments))) if v}

    @classmethod
    def from_json(cls, data: dict | None) -> RunScope:
        data = data or {"all": True}
        if data.get("all"):
            return cls.all()
        return cls(bank_files=frozenset(data.get("bank_files", ())), customers=frozenset(data.get("customers", ())),
                   payerless=bool(data.get("payerless")), payments=frozenset(data.get("payments", ())))

    def describe(self) -> str:
        """For the run page: "payments of bank file 12 + waiting payments of 3 customers"."""
        if self.everything:
            return "all waiting payments"
        parts = []
        if self.bank_files:
            parts.append(_named("payments of bank file", "payments of bank files", self.bank_files))
        if self.customers:
            n = len(self.customers)
            parts.append(f"waiting payments of {n} customer{'s' if n != 1 else ''}")
        if self.payerless:
            parts.append("waiting payments without an identified payer")
        if self.payments:
            parts.append(_named("payment", "payments", self.payments))
        return " + ".join(parts) or "nothing"


def _named(one: str, many: str, ids: frozenset[int]) -> str:
    shown = ", ".join(str(i) for i in sorted(ids)[:5])
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    return f"{one if len(ids) == 1 else many} {shown}{more}"
