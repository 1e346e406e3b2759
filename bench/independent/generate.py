"""Seeded AR book and bank payments, each payment labelled with its case and expected allocations.

Customer sizes follow a Zipf law: the customer of rank k holds a share proportional to k ** -ZIPF_S of the
invoices. ZIPF_S = 0.8 gives, with 5,000 customers, about 4.3 % of the invoices to the largest customer and
about 28 % to the top 50 (real AR books: a handful of key accounts, a long tail).

Money is in integer cents throughout; the writers format it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from . import names as N
from . import noise

ZIPF_S = 0.8
STATEMENT_DAY = date(2026, 3, 2)
SCHEMES = {  # the tenant's invoice numbering, one per book
    "SI": lambda n: f"SI{n:06d}",
    "INV": lambda n: f"INV-2026-{n:06d}",
    "DIGITS": lambda n: f"{4_100_000 + n}",
}
# Share of payments per case (sums to 1). `matchable` cases have one right answer a clerk would post.
CASES = [
    ("exact", 0.36), ("ref_noise", 0.15), ("bundle", 0.10), ("no_ref", 0.07), ("short_pay", 0.05),
    ("discount_earned", 0.05), ("discount_unearned", 0.03), ("overpay", 0.03), ("parent_pays_sub", 0.04),
    ("name_variant", 0.05), ("unknown", 0.04), ("ambiguous", 0.03),
]
UNMATCHABLE = {"unknown", "ambiguous"}
SHORT_REASONS = ["DAMAGED GOODS", "PRICING DIFF", "FREIGHT NOT ORDERED", "SHORTAGE", "PROMO ALLOWANCE",
                 "RETURNED ITEMS", "QTY SHORT SHIPPED"]


@dataclass(slots=True)
class Customer:
    external_id: str
    name: str
    parent: int = -1
    account: str = ""


@dataclass(slots=True)
class Doc:
    """One structured remittance line: the reference as written and its amounts (cents, 0 = not given)."""

    ref: str
    paid: int
    gross: int = 0
    discount: int = 0
    adjustment: int = 0
    reason: str = ""


@dataclass(slots=True)
class Payment:
    seq: int
    bank_reference: str
    case: str
    amount: int
    payer_name: str
    payer_account: str
    text: str  # the free remittance text
    docs: list[Doc]  # the same remittance as structured lines (used by camt Strd and lockbox coupons)
    expected: list[tuple[str, int]]  # (invoice number, applied cents)
    matchable: bool
    customer: str = ""  # the external id of the paying customer ("" when unknown)
    noise: list[str] = field(default_factory=list)
    structured: bool = False  # camt writers put docs in Strd rather than the text in Ustrd


@dataclass
class Book:
    scheme: str
    customers: list[Customer]
    numbers: list[str]
    cust: list[int]
    issue: list[int]  # days before STATEMENT_DAY
    due_days: list[int]
    cents: list[int]
    po: list[str]
    disc_pct: list[int]  # hundredths of a percent, 0 = none
    disc_days: list[int]  # discount window in days after issue
    payments: list[Payment]
    statement_day: date = STATEMENT_DAY

    def invoice_dates(self, i: int) -> tuple[date, date, date | None]:
        issue = self.statement_day - timedelta(days=self.issue[i])
        disc = issue + timedelta(days=self.disc_days[i]) if self.disc_pct[i] else None
        return issue, issue + timedelta(days=self.due_days[i]), disc


def zipf_weights(n: int, s: float = ZIPF_S) -> list[float]:
    return [1.0 / (k ** s) for k in range(1, n + 1)]


def _amount(rng: random.Random) -> int:
    cents = int(math.exp(rng.gauss(7.0, 1.1)) * 100)  # lognormal, median about 1,100.00
    if rng.random() < 0.12:
        cents = cents // 10_000 * 10_000 or 10_000  # round hundreds, which repeat
    return max(cents, 500)


def make_customers(rng: random.Random, n: int) -> list[Customer]:
    names = N.customer_names(rng, n)
    customers = [Customer(f"C{i + 1:05d}", nm) for i, nm in enumerate(names)]
    taken = set(names)
    # About 3 % of customers are parents of 1-3 subsidiaries (turning other customers into subsidiaries).
    order = list(range(n))
    rng.shuffle(order)
    pool = iter(order)
    for _ in range(max(1, n * 3 // 100)):
        parent = next(pool, None)
        if parent is None:
            break
        for _ in range(rng.randint(1, 3)):
            sub = next(pool, None)
            if sub is None:
                break
            name = N.subsidiary_name(rng, customers[parent].name, taken)
            taken.add(name)
            customers[sub].name = name
            customers[sub].parent = parent
    for c in customers:
        if rng.random() < 0.6:
            c.account = f"US{rng.randint(10, 99)}BANK{rng.randint(10**13, 10**14 - 1)}"
    return customers


def make_book(*, seed: int, n_invoices: int, n_customers: int, n_payments: int, scheme: str | None = None) -> Book:
    rng = random.Random(seed)
    scheme = scheme or rng.choice(sorted(SCHEMES))
    fmt = SCHEMES[scheme]
    customers = make_customers(rng, n_customers)
    # Sizes: customer of rank k gets weight k**-s; ranks are shuffled over the customer ids.
    ranks = list(range(n_customers))
    rng.shuffle(ranks)
    cum = list(itertools.accumulate(zipf_weights(n_customers)))
    total = cum[-1]
    rand = rng.random
    cust = [ranks[bisect.bisect_left(cum, rand() * total)] for _ in range(n_invoices)]
    # Terms are the customer's: 2/10 net 30 or 1/15 net 45 for about one customer in six.
    terms = [(200, 10, 30) if r < 0.1 else (100, 15, 45) if r < 0.17 else (0, 0, rng.choice((30, 30, 45, 60)))
             for r in (rng.random() for _ in range(n_customers))]
    start = rng.randint(1000, 20000)
    numbers = [fmt(start + i) for i in range(n_invoices)]
    issue = [1 + int(rand() * 120) for _ in range(n_invoices)]
    cents = [_amount(rng) for _ in range(n_invoices)]
    po = [f"PO{1_000_000 + int(rand() * 9_000_000)}" if rand() < 0.4 else "" for _ in range(n_invoices)]
    disc_pct = [terms[c][0] for c in cust]
    disc_days = [terms[c][1] for c in cust]
    due_days = [terms[c][2] for c in cust]
    book = Book(scheme, customers, numbers, cust, issue, due_days, cents, po, disc_pct, disc_days, [])
    book.generator = _Payments(rng, book)
    book.payments = book.generator.make(n_payments)
    return book


DAY2_CASES = ("exact", "ref_noise", "no_ref", "name_variant", "parent_pays_sub")


def make_day2(book: Book, day1: list[Payment]) -> list[Payment]:
    """The next day's payments from the same payers, written the same way (same name variant, same account),
    each for another open invoice of the same customer: one per day-1 payment of DAY2_CASES."""
    return book.generator.day2(day1)


class _Payments:
    def __init__(self, rng: random.Random, book: Book):
        self.rng = rng
        self.book = book
        self.used: set[int] = set()
        self.by_cust: dict[int, list[int]] = {}
        for i, c in enumerate(book.cust):
            self.by_cust.setdefault(c, []).append(i)
        self.amounts: dict[int, Counter] = {c: Counter(book.cents[i] for i in idx) for c, idx in self.by_cust.items()}
        self.all_amounts = set(book.cents)
        self.children: dict[int, list[int]] = {}
        for k, c in enumerate(book.customers):
            if c.parent >= 0:
                self.children.setdefault(c.parent, []).append(k)
        self.names = {c.name for c in book.customers}
        self.subsidiaries = [k for k, c in enumerate(book.customers) if c.parent >= 0 and k in self.by_cust]
        self.day = book.statement_day.strftime("%m/%d/%y")

    # --- picking invoices -------------------------------------------------------------------------

    def _free_invoice(self, pred=None) -> int:
        n = len(self.book.numbers)
        for _ in range(200):
            i = self.rng.randrange(n)
            if i not in self.used and (pred is None or pred(i)):
                return i
        raise RuntimeError("not enough free invoices for the payments asked for (ask for more invoices)")

    def _free_of(self, c: int, k: int) -> list[int] | None:
        free = [i for i in self.by_cust[c] if i not in self.used] if len(self.by_cust[c]) < 64 else None
        if free is not None:
            return self.rng.sample(free, k) if len(free) >= k else None
        picked: set[int] = set()
        for _ in range(20 * k):
            i = self.rng.choice(self.by_cust[c])
            if i not in self.used:
                picked.add(i)
                if len(picked) == k:
                    return list(picked)
        return None

    def _family(self, c: int) -> list[int]:
        parent = self.book.customers[c].parent
        top = c if parent < 0 else parent
        return [top, *self.children.get(top, [])]

    def _set_amount(self, i: int, cents: int) -> None:
        c = self.book.cust[i]
        self.amounts[c][self.book.cents[i]] -= 1
        self.book.cents[i] = cents
        self.amounts[c][cents] += 1
        self.all_amounts.add(cents)

    def _unique_in_family(self, i: int) -> None:
        """Re-draw the invoice's amount until no other invoice of the payer's family has it."""
        fam = self._family(self.book.cust[i])
        while sum(self.amounts.get(f, Counter())[self.book.cents[i]] for f in fam) > 1:
            self._set_amount(i, _amount(self.rng) + self.rng.randint(1, 99))

    def _payer(self, c: int, heavy: bool = False) -> tuple[str, list[str]]:
        return noise.name_variant(self.rng, self.book.customers[c].name, heavy=heavy)

    # --- cases --------------------------------------------------------------------------------------

    def make(self, n: int) -> list[Payment]:
        cases = [c for c, _ in CASES]
        weights = [w for _, w in CASES]
        drawn = self.rng.choices(cases, weights, k=n)
        out = []
        for seq, case in enumerate(drawn):
            p = getattr(self, "_" + case)()
            p.seq = seq
            p.bank_reference = f"BR26061{seq:09d}"
            p.case = case
            p.matchable = case not in UNMATCHABLE
            p.structured = self.rng.random() < 0.35
            out.append(p)
        return out

    def day2(self, day1: list[Payment]) -> list[Payment]:
        index = {n: i for i, n in enumerate(self.book.numbers)}
        out = []
        seq = len(self.book.payments)
        for p in day1:
            if not p.matchable or p.case not in DAY2_CASES:
                continue
            owner = self.book.cust[index[p.expected[0][0]]]
            picked = self._free_of(owner, 1)
            if not picked:
                continue
            i = picked[0]
            self.used.add(i)
            num = self.book.numbers[i]
            if p.case in ("no_ref", "name_variant"):
                self._unique_in_family(i)
                text, docs = p.text, []
            else:
                ref = num
                if p.case == "ref_noise":
                    ref, _ = noise.noisy_reference(self.rng, num, next((k for k in p.noise
                                                                         if k in noise.REF_NOISE_KINDS), None))
                text, docs = noise.lead_in(self.rng, [ref]), [Doc(ref, self.book.cents[i], self.book.cents[i])]
            amt = self.book.cents[i]
            q = Payment(seq, f"BR26062{seq:09d}", p.case, amt, p.payer_name, p.payer_account, text, docs,
                        [(num, amt)], True, p.customer, [*p.noise, "day2"], p.structured)
            seq += 1
            out.append(q)
        return out

    def _pay(self, c: int, amount: int, text: str, docs: list[Doc], expected, noise_kinds, heavy=False) -> Payment:
        name, kinds = self._payer(c, heavy)
        cust = self.book.customers[c]
        account = cust.account if cust.account and self.rng.random() < 0.8 else ""
        return Payment(0, "", "", amount, name, account, text, docs, expected, True, cust.external_id,
                       kinds + noise_kinds)

    def _text(self, refs: list[str]) -> tuple[str, list[str]]:
        if self.rng.random() < 0.2:
            return noise.buried(self.rng, refs, self.day), ["buried"]
        return noise.lead_in(self.rng, refs), []

    def _exact(self) -> Payment:
        i = self._free_invoice()
        self.used.add(i)
        num, amt = self.book.numbers[i], self.book.cents[i]
        text, kinds = self._text([num])
        return self._pay(self.book.cust[i], amt, text, [Doc(num, amt, amt)], [(num, amt)], kinds)

    def _ref_noise(self) -> Payment:
        i = self._free_invoice()
        self.used.add(i)
        num, amt = self.book.numbers[i], self.book.cents[i]
        ref, kind = noise.noisy_reference(self.rng, num)
        text, kinds = self._text([ref])
        return self._pay(self.book.cust[i], amt, text, [Doc(ref, amt, amt)], [(num, amt)], [kind, *kinds])

    def _bundle(self) -> Payment:
        k = self.rng.randint(2, 8)
        for _ in range(200):
            c = self.book.cust[self._free_invoice()]
            picked = self._free_of(c, k)
            if picked:
                break
        else:
            raise RuntimeError("no customer with enough free invoices for a bundle")
        self.used.update(picked)
        refs = [self.book.numbers[i] for i in picked]
        kinds = []
        if self.rng.random() < 0.3:
            j = self.rng.randrange(k)
            refs[j], kind = noise.noisy_reference(self.rng, refs[j])
            kinds.append(kind)
        docs = [Doc(r, self.book.cents[i], self.book.cents[i]) for r, i in zip(refs, picked, strict=True)]
        text, more = self._text(refs)
        expected = [(self.book.numbers[i], self.book.cents[i]) for i in picked]
        return self._pay(c, sum(self.book.cents[i] for i in picked), text, docs, expected, kinds + more)

    def _no_ref(self, heavy: bool = False) -> Payment:
        i = self._free_invoice()
        self.used.add(i)
        self._unique_in_family(i)
        amt = self.book.cents[i]
        text = self.rng.choice(["", "PAYMENT", "ACH CREDIT", "THANK YOU", "SUPPLIER PAYMENT", f"REMIT {self.day}"])
        p = self._pay(self.book.cust[i], amt, text, [], [(self.book.numbers[i], amt)], ["no_reference"], heavy)
        return p

    def _name_variant(self) -> Payment:
        return self._no_ref(heavy=True)

    def _short_pay(self) -> Payment:
        i = self._free_invoice(lambda i: self.book.cents[i] >= 10_000)
        self.used.add(i)
        num, amt = self.book.numbers[i], self.book.cents[i]
        short = max(100, int(amt * self.rng.uniform(0.02, 0.15)))
        reason = self.rng.choice(SHORT_REASONS)
        paid = amt - short
        text = f"{num} SHORT PAID {short / 100:.2f} {reason}" if self.rng.random() < 0.5 else \
            f"INV {num} LESS {short / 100:.2f} {reason}"
        doc = Doc(num, paid, amt, adjustment=short, reason=reason)
        return self._pay(self.book.cust[i], paid, text, [doc], [(num, paid)], ["short"])

    def _discount(self, earned: bool) -> Payment:
        i = self._free_invoice(lambda i: self.book.cents[i] >= 5_000)
        self.used.add(i)
        b = self.book
        if not b.disc_pct[i]:  # give the invoice the usual 2/10 net 30 terms
            b.disc_pct[i], b.disc_days[i], b.due_days[i] = 200, 10, 30
        # Earned: paid inside the window (issued at most disc_days ago). Unearned: the window has passed.
        b.issue[i] = self.rng.randint(1, b.disc_days[i]) if earned else self.rng.randint(b.disc_days[i] + 3, 60)
        num, amt = b.numbers[i], b.cents[i]
        disc = round(amt * b.disc_pct[i] / 10_000)
        paid = amt - disc
        text = f"{num} LESS {b.disc_pct[i] / 100:.0f}% DISC" if self.rng.random() < 0.5 else num
        doc = Doc(num, paid, amt, discount=disc)
        return self._pay(b.cust[i], paid, text, [doc], [(num, paid)], ["discount"])

    def _discount_earned(self) -> Payment:
        return self._discount(True)

    def _discount_unearned(self) -> Payment:
        return self._discount(False)

    def _overpay(self) -> Payment:
        i = self._free_invoice()
        self.used.add(i)
        num, amt = self.book.numbers[i], self.book.cents[i]
        extra = self.rng.choice([self.rng.randint(100, 5_000), max(100, amt // 100)])
        text, kinds = self._text([num])
        return self._pay(self.book.cust[i], amt + extra, text, [Doc(num, amt + extra, amt)], [(num, amt)],
                         kinds + ["overpaid"])

    def _parent_pays_sub(self) -> Payment:
        subs = self.subsidiaries
        for _ in range(50):
            sub = self.rng.choice(subs)
            picked = self._free_of(sub, 1)
            if picked:
                break
        else:
            raise RuntimeError("no subsidiary with a free invoice")
        i = picked[0]
        self.used.add(i)
        num, amt = self.book.numbers[i], self.book.cents[i]
        ref, kinds = num, []
        if self.rng.random() < 0.3:
            ref, kind = noise.noisy_reference(self.rng, num)
            kinds.append(kind)
        text, more = self._text([ref])
        parent = self.book.customers[sub].parent
        p = self._pay(parent, amt, text, [Doc(ref, amt, amt)], [(num, amt)], kinds + more + ["parent"])
        return p

    def _unknown(self) -> Payment:
        name = N.stranger_name(self.rng, self.names)
        amt = _amount(self.rng) + self.rng.randint(1, 99)
        while amt in self.all_amounts:
            amt += 1
        text = self.rng.choice(["", "PAYMENT", f"ORDER {self.rng.randint(100000, 999999)}", "DEPOSIT",
                                f"PROFORMA {self.rng.randint(100, 999)}"])
        name, kinds = noise.name_variant(self.rng, name)
        return Payment(0, "", "", amt, name, "", text, [], [], False, "", kinds + ["stranger"])

    def _ambiguous(self) -> Payment:
        for _ in range(200):
            c = self.book.cust[self._free_invoice()]
            picked = self._free_of(c, 2)
            if picked:
                break
        else:
            raise RuntimeError("no customer with two free invoices")
        a, b = picked
        self.used.update(picked)
        self._unique_in_family(a)
        self._set_amount(b, self.book.cents[a])  # two open invoices of the same amount, no reference
        amt = self.book.cents[a]
        text = self.rng.choice(["", "PAYMENT", "ACH CREDIT", "THANK YOU"])
        return self._pay(c, amt, text, [], [], ["no_reference", "two_same_amount"])
