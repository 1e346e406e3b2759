"""The matcher: who paid, which invoices, how the money splits, how sure we are, and why.

For each payment, in order:
1. Payer: the remitter's account on file, the payer's name or an alias (legal suffixes dropped), a name
   cut short by the bank, a name spelt slightly differently. A parent may pay its subsidiaries' invoices.
2. References: every document number in the structured remittance and the free text, read the way a
   person would (no prefix, no leading zeros, O for 0, S for 5), looked up in a dictionary of the open
   invoices' numbers and PO numbers; when nothing is found, one typing error away (adjacent digits
   transposed, one digit wrong). With dense invoice numbering every number is "some invoice", so a
   reference only counts when the payer or the amount agrees with it.
3. Amount: the found invoices are settled in full, with an early-pay discount when it was earned, a
   deduction for a short pay (its reason read from the text), an overpayment left on account. With no
   reference, an amount that exactly one open invoice of the payer (or one combination of them) explains.
4. Confidence: the product of how the payer, the references and the amount agreed. A unique answer at or
   above the tenant's threshold is posted; two answers alike are suggested, never posted.

Every lookup is a dictionary access: the cost per payment does not grow with the ledger.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from difflib import SequenceMatcher
from itertools import chain, islice
from operator import attrgetter

from o2c.money import quantize

from .normalize import account_key, name_key, one_edit_variants, reference_key, reference_tokens_as_written
from .types import (
    AUTO,
    REASON_DAMAGED,
    REASON_FREIGHT,
    REASON_PRICING,
    REASON_PROMOTION,
    REASON_RETURN,
    REASON_SHORT_PAYMENT,
    REASON_SHORTAGE,
    REASON_TAX,
    REASON_UNEARNED_DISCOUNT,
    SUGGEST,
    UNMATCHED,
    Allocation,
    CustomerRecord,
    Decision,
    MatchSettings,
    OpenInvoice,
    PaymentRecord,
    Proposal,
)

ZERO = Decimal(0)
REF_SCORE = {"exact": 1.0, "po": 0.97, "transposed": 0.93, "wrong digit": 0.85}
_REASON_WORDS = (
    (REASON_DAMAGED, ("DAMAGE", "BROKEN", "DEFECT")),
    (REASON_SHORTAGE, ("SHORTAGE", "SHORT SHIP", "MISSING", "NOT RECEIVED", "SHORT DELIVER")),
    (REASON_FREIGHT, ("FREIGHT", "SHIPPING", "DELIVERY CHARGE", "CARRIAGE")),
    (REASON_PRICING, ("PRICE", "PRICING", "OVERCHARGE", "OVERBILL")),
    (REASON_PROMOTION, ("PROMO", "CO-OP", "COOP", "ALLOWANCE", "MDF", "REBATE")),
    (REASON_RETURN, ("RETURN", "RMA", "CREDIT NOTE")),
    (REASON_TAX, ("TAX", "VAT", "GST")),
    (REASON_UNEARNED_DISCOUNT, ("DISCOUNT",)),
)
MAX_BUNDLE_CANDIDATES = 40
_DUE_ORDER = attrgetter("due_date", "id")
MAX_BUNDLE_NODES = 20_000
# A long list of candidates cannot post a bundle (see _by_amount), only offer chance combinations: search less.
MAX_BUNDLE_NODES_LONG_LIST = 5_000


# Each word must start a word of the text ('DAMAGED', 'RETURNS', 'RMA123'), so that 'information' is not an
# RMA, 'private' not VAT and 'syntax' not a tax.
_REASON_PATTERNS = tuple((reason, re.compile(r"(?<![A-Z0-9])(?:" + "|".join(map(re.escape, words)) + ")"))
                         for reason, words in _REASON_WORDS)


def infer_reason(text: str) -> tuple[str, bool]:
    """The deduction reason the customer wrote, and whether they wrote one."""
    upper = text.upper()
    for reason, pattern in _REASON_PATTERNS:
        if pattern.search(upper):
            return reason, True
    return REASON_SHORT_PAYMENT, False


class MatchIndex:
    def __init__(self) -> None:
        self.customers: dict[int, CustomerRecord] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        self.by_name: dict[str, set[int]] = defaultdict(set)
        self.name_keys: dict[int, list[tuple[str, object]]] = defaultdict(list)  # cid -> (key, alias or None)
        self.by_token: dict[str, set[int]] = defaultdict(set)
        self.by_account: dict[str, int] = {}
        self.invoices: dict[int, OpenInvoice] = {}
        self.open: dict[int, Decimal] = {}
        self.by_ref: dict[str, int | list[int]] = {}
        self.by_po: dict[str, int | list[int]] = {}
        # Per customer, invoice id -> record (and id -> None for those offering a discount): dicts, so that a
        # refresh takes an invoice out in one step, however many the customer has.
        self.by_customer: dict[int, dict[int, OpenInvoice]] = defaultdict(dict)
        self.by_amount: dict[Decimal, int | list[int]] = {}
        # Per customer and currency, built on first use and kept up to date by consume(): the live invoices
        # in due order (a dict used as an ordered set, so that settling one is not a walk over the list), and
        # the amounts that settle an invoice less its early-pay discount. A big customer's amount-only
        # payments then cost dictionary lookups, not walks over its invoices.
        self._live: dict[tuple[int, str], dict[int, None]] = {}
        # Alongside each: the live invoices in due order cut in blocks, with the lowest open balance of each, so
        # that "the first ones below this amount" skips the blocks that have none (see live_below).
        self._blocks: dict[tuple[int, str], tuple[list[list], dict[int, list]]] = {}
        self.with_discount: dict[int, dict[int, None]] = defaultdict(dict)  # customer -> invoices offering one
        self._after_discount: dict[tuple[int, str], dict[Decimal, list[int]]] = {}
        self._part_paid: dict[Decimal, list[int]] = defaultdict(list)  # balances left by this run's postings
        self._discounted_all: dict[Decimal, list[int]] | None = None  # see settling_exactly()
        self.consumed: set[int] = set()  # invoices consume() changed since the index was built or refreshed

    @classmethod
    def build(cls, customers: Iterable[CustomerRecord], invoices: Iterable[OpenInvoice]) -> MatchIndex:
        # Millions of small lists and dict entries, none of them garbage: the cyclic collector would walk
        # them over and over as they are allocated (it doubled the build time).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._build(customers, invoices)
        finally:
            if enabled:
                gc.enable()

    @classmethod
    def _build(cls, customers: Iterable[CustomerRecord], invoices: Iterable[OpenInvoice]) -> MatchIndex:
        idx = cls()
        idx._index_customers(customers)
        idx._add_invoices(invoices)
        return idx

    def _index_customers(self, customers: Iterable[CustomerRecord]) -> None:
        """The payer side of the index, from every customer of the tenant (a few thousand: cheap to redo)."""
        self.customers, self.children = {}, defaultdict(list)
        self.by_name, self.name_keys, self.by_account = defaultdict(set), defaultdict(list), {}
        by_token = defaultdict(set)
        for c in customers:
            self.customers[c.id] = c
            if c.parent_id:
                self.children[c.parent_id].append(c.id)
            for key, alias in [(name_key(c.name), None)] + [(name_key(a.name), a) for a in c.aliases]:
                if key:
                    self.by_name[key].add(c.id)
                    self.name_keys[c.id].append((key, alias))
                    for token in set(key.split()):
                        by_token[token].add(c.id)
            for account in c.bank_accounts:
                self.by_account[account_key(account)] = c.id
        # Tokens shared by many customers (GLOBAL, SERVICES) say nothing about who paid.
        self.by_token = {t: ids for t, ids in by_token.items() if len(ids) <= 25}

    def _add_invoices(self, invoices: Iterable[OpenInvoice]) -> None:
        # The hot loop of a run's set-up (a million invoices): locals, no attribute lookups on self, and the
        # three "bare id, then a list" insertions written out rather than called (2.5 million calls, ~0.2 s).
        invoices_, open_, by_ref, by_po = self.invoices, self.open, self.by_ref, self.by_po
        by_customer, by_amount, with_discount = self.by_customer, self.by_amount, self.with_discount
        ref_key = reference_key
        for inv in invoices:
            balance = inv.open_balance
            if balance <= 0:
                continue
            iid = inv.id
            invoices_[iid] = inv
            open_[iid] = balance
            # Most keys are unique: store the bare id and make a list only on a second one (a million fewer
            # lists to allocate). `live()` reads both shapes.
            key = ref_key(inv.number)
            if key:
                hit = by_ref.get(key)
                if hit is None:
                    by_ref[key] = iid
                elif type(hit) is int:
                    by_ref[key] = [hit, iid]
                else:
                    hit.append(iid)
            if inv.po_number:
                po = ref_key(inv.po_number)
                if po:
                    hit = by_po.get(po)
                    if hit is None:
                        by_po[po] = iid
                    elif type(hit) is int:
                        by_po[po] = [hit, iid]
                    else:
                        hit.append(iid)
            by_customer[inv.customer_id][iid] = inv
            if inv.discount_percent:
                with_discount[inv.customer_id][iid] = None
            # Amounts repeat (thousands of invoices of 100.00): append in place, never copy the list.
            hit = by_amount.get(balance)
            if hit is None:
                by_amount[balance] = iid
            elif type(hit) is int:
                by_amount[balance] = [hit, iid]
            else:
                hit.append(iid)

    def refresh(self, customers: Iterable[CustomerRecord], invoices: Iterable[OpenInvoice], closed: Iterable[int]
                ) -> None:
        """Bring a kept index up to date with the ledger instead of building it again: every customer (the payer
        side is rebuilt, it is small), the open invoices that changed (new, paid in part, edited), and those no
        longer open (`closed`: paid, voided). The caller must pass every invoice this index consumed since the
        last refresh among the two (`self.consumed`): what the run consumed is not trusted to be what was posted
        (a posting refused, a chunk not committed), so the ledger's word replaces it."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._refresh(customers, list(invoices), set(closed))
        finally:
            if enabled:
                gc.enable()

    def _refresh(self, customers, invoices: list[OpenInvoice], closed: set[int]) -> None:
        self._index_customers(customers)
        changed = closed | {inv.id for inv in invoices}
        missing = self.consumed - changed
        if missing:
            raise ValueError(f"refresh without the {len(missing)} invoices this index consumed")
        # Out with the old entries: one step each from the customer's dicts, and each list of ids by number or
        # amount filtered once however many of its ids go (an amount shared by thousands of invoices).
        touched_customers: set[int] = set()
        by_key: dict[tuple[int, object], set[int]] = defaultdict(set)
        discount_touched = False
        for iid in changed:
            old = self.invoices.pop(iid, None)
            if old is None:
                continue
            del self.open[iid]
            touched_customers.add(old.customer_id)
            self.by_customer[old.customer_id].pop(iid, None)
            self.with_discount.get(old.customer_id, {}).pop(iid, None)
            discount_touched = discount_touched or bool(old.discount_percent)
            by_key[(0, reference_key(old.number))].add(iid)
            if old.po_number:
                by_key[(1, reference_key(old.po_number))].add(iid)
            by_key[(2, old.open_balance)].add(iid)  # where _add_invoices put it: by its balance then
        maps = (self.by_ref, self.by_po, self.by_amount)
        for (which, key), ids in by_key.items():
            hit = maps[which].get(key)
            if hit is None:
                continue
            left = [i for i in _ids(hit) if i not in ids]
            if not left:
                del maps[which][key]
            else:
                maps[which][key] = left[0] if len(left) == 1 else left
        self._add_invoices(invoices)
        for inv in invoices:
            touched_customers.add(inv.customer_id)
            discount_touched = discount_touched or bool(inv.discount_percent)
        # The per-customer views built on first use are built again on next use; the balances this index
        # consumed are the ledger's again, so nothing is findable by what a run left over.
        for views in (self._live, self._after_discount, self._blocks):
            for key in [k for k in views if k[0] in touched_customers]:
                del views[key]
        if discount_touched:
            self._discounted_all = None
        self._part_paid = defaultdict(list)
        self.consumed = set()

    def family(self, customer_id: int) -> set[int]:
        """A payer and the subsidiaries it pays for."""
        return {customer_id, *self.children.get(customer_id, ())}

    def live(self, ids: Iterable[int] | int, currency: str) -> list[int]:
        if type(ids) is int:
            ids = (ids,)
        return [i for i in ids if self.open.get(i, ZERO) > 0 and self.invoices[i].currency == currency]

    def customer_live(self, customer_id: int, currency: str) -> dict[int, None]:
        """The customer's invoices still open in that currency, oldest due first (ties in id order), as the
        keys of a dict. Sorted on first use: a run needs it only for payments without a usable reference."""
        key = (customer_id, currency)
        live = self._live.get(key)
        if live is None:
            invoices = sorted(self.by_customer.get(customer_id, {}).values(), key=_DUE_ORDER)
            open_ = self.open
            live = self._live[key] = {inv.id: None for inv in invoices
                                      if inv.currency == currency and open_[inv.id] > 0}
            self._blocks.pop(key, None)
        return live

    def live_below(self, customer_ids: Iterable[int], currency: str, amount: Decimal, limit: int) -> list[int]:
        """The first `limit` live invoices of these customers (each customer's in due order, one customer after
        the other) whose open balance is below `amount`: what iterating customer_live() and filtering gives,
        without walking all of a big customer's invoices when few are below (43k of them for a small amount:
        ~6 ms a payment). Blocks whose lowest balance is not below the amount are skipped whole."""
        found: list[int] = []
        open_ = self.open
        for cid in customer_ids:
            key = (cid, currency)
            live = self.customer_live(cid, currency)
            blocks = self._blocks.get(key)
            if blocks is None:
                blocks = self._blocks[key] = _blocks_of(live, open_)
            for block in blocks[0]:
                if block[0] >= amount:
                    continue
                for i in block[1]:
                    if i in live and open_[i] < amount:
                        found.append(i)
                        if len(found) >= limit:
                            return found
        return found

    def settled_by(self, customer_id: int, currency: str, amount: Decimal) -> tuple[list[int], list[int]]:
        """The customer's live invoices whose open balance is `amount`, and those it settles less an
        early-pay discount (whether the discount was earned is for the caller to judge)."""
        candidates = chain(_ids(self.by_amount.get(amount)), self._part_paid.get(amount, ()))
        exact = [i for i in candidates if self.open[i] == amount and self.invoices[i].customer_id == customer_id
                 and self.invoices[i].currency == currency]
        key = (customer_id, currency)
        after_discount = self._after_discount.get(key)
        if after_discount is None:
            after_discount = self._after_discount[key] = defaultdict(list)
            for i in self.with_discount.get(customer_id, ()):
                inv = self.invoices[i]
                if inv.currency == currency and self.open[i] == inv.amount:
                    after_discount[inv.amount - _discount(inv, inv.amount)].append(i)
        discounted = [i for i in after_discount.get(amount, ())
                      if self.open[i] - _discount(self.invoices[i], self.open[i]) == amount != self.open[i]]
        return exact, discounted

    def settling_exactly(self, amount: Decimal, currency: str, limit: int) -> list[int] | None:
        """The live invoices in `currency` that `amount` settles exactly: their open balance, or their amount less
        the early-pay discount while they are wholly open. None when there are more than `limit` (the caller then
        takes another way)."""
        if self._discounted_all is None:
            # Every invoice offering a discount, by what settles it less the discount: built on first use.
            self._discounted_all = defaultdict(list)
            for ids in self.with_discount.values():
                for i in ids:
                    inv = self.invoices[i]
                    self._discounted_all[inv.amount - _discount(inv, inv.amount)].append(i)
        open_, invoices = self.open, self.invoices
        candidates = [*_ids(self.by_amount.get(amount)), *self._part_paid.get(amount, ()),
                      *self._discounted_all.get(amount, ())]
        if len(candidates) > limit:
            return None
        return [i for i in candidates if invoices[i].currency == currency and open_[i] > 0
                and (open_[i] == amount or (open_[i] == invoices[i].amount and invoices[i].discount_percent))]

    def consume(self, proposal: Proposal) -> None:
        for a in proposal.allocations:
            iid = a.invoice_id
            self.consumed.add(iid)
            self.open[iid] -= a.applied + a.discount + a.deduction + a.write_off
            inv = self.invoices[iid]
            key = (inv.customer_id, inv.currency)
            if self.open[iid] <= 0:
                live = self._live.get(key)
                if live is not None:
                    live.pop(iid, None)
            else:
                self._part_paid[self.open[iid]].append(iid)  # findable by what is left
                blocks = self._blocks.get(key)
                if blocks is not None and iid in blocks[1]:
                    block = blocks[1][iid]
                    block[0] = min(block[0], self.open[iid])


_BLOCK = 128


def _blocks_of(live: dict[int, None], open_: dict[int, Decimal]) -> tuple[list[list], dict[int, list]]:
    """([lowest open balance, ids] per block of _BLOCK live invoices in order, invoice id -> its block)."""
    ids = list(live)
    blocks, where = [], {}
    for start in range(0, len(ids), _BLOCK):
        chunk = ids[start:start + _BLOCK]
        block = [min(open_[i] for i in chunk), chunk]
        blocks.append(block)
        for i in chunk:
            where[i] = block
    return blocks, where


def _ids(hit: int | list[int] | None) -> Iterable[int]:
    """An index entry as ids: the index stores a bare id for a unique key, a list otherwise."""
    if hit is None:
        return ()
    return (hit,) if type(hit) is int else hit


# --- 1. the payer ------------------------------------------------------------------------------------

def _identify_payer(p: PaymentRecord, idx: MatchIndex) -> dict[int, tuple[float, str]]:
    found: dict[int, tuple[float, str]] = {}

    def note(cid: int, score: float, reason: str) -> None:
        if cid not in found or found[cid][0] < score:
            found[cid] = (score, reason)

    account = account_key(p.payer_account)
    if account and account in idx.by_account:
        note(idx.by_account[account], 0.99, "remitting account on file")
    key = name_key(p.payer_name)
    if not key:
        return found
    for cid in idx.by_name.get(key, ()):
        alias = next((a for k, a in idx.name_keys[cid] if k == key), None)
        note(cid, 0.97, _alias_reason(alias) if alias else "payer name matches")
    if found:
        return found
    candidates = set()
    for token in key.split():
        candidates |= idx.by_token.get(token, set())
    for cid in sorted(candidates)[:60]:
        for known, _alias in idx.name_keys[cid]:
            if len(key) >= 10 and known.startswith(key) and len(known) > len(key):
                note(cid, 0.95, "payer name cut short by the bank")
                continue
            if key.startswith(known + " ") and len(known) >= 8:
                note(cid, 0.95, "payer name is the customer's followed by other words")
                continue
            ratio = SequenceMatcher(None, key, known, autojunk=False).ratio()
            if ratio >= 0.86:
                note(cid, 0.80 + (ratio - 0.86), f"payer name spelt differently ({ratio:.0%} alike)")
    return found


def _alias_reason(alias) -> str:
    if alias.source == "learned" and alias.learned_on:
        return f"payer alias learned {alias.learned_on.day} {alias.learned_on:%b}"
    return f"payer alias {alias.name!r}"


# --- 2. references -----------------------------------------------------------------------------------

class _Ref:
    __slots__ = ("key", "line", "raw")

    def __init__(self, key, line, raw):
        self.key, self.line, self.raw = key, line, raw


def _references(p: PaymentRecord) -> list[_Ref]:
    refs, seen = [], set()
    for line in p.lines:
        if line.reference_type == "credit_memo":
            continue
        key = reference_key(line.reference)
        if key and key not in seen:
            seen.add(key)
            refs.append(_Ref(key, line, line.reference))
    for key, written in reference_tokens_as_written(p.text):
        if key not in seen:
            seen.add(key)
            refs.append(_Ref(key, None, written))
    return refs


def _resolve(ref: _Ref, p: PaymentRecord, idx: MatchIndex, payers: dict, families: set[int]
             ) -> tuple[list[tuple], str]:
    """Candidate invoices for one reference, best first: (rank tuple, invoice id, kind). Kinds beyond
    'exact' need the payer or the amount to agree."""
    target = ref.line.amount_paid if ref.line is not None and ref.line.amount_paid else p.amount
    candidates = []
    # The hot loop of a run: a mistyped number is looked up in ~70 spellings, most of them some invoice.
    invoices, open_, currency = idx.invoices, idx.open, p.currency
    stranger_fit = 1 if not payers else 0

    def consider(iid: int, kind: str, direct: bool) -> None:
        open_balance = open_[iid]
        if open_balance <= 0:
            return
        inv = invoices[iid]
        if inv.currency != currency:
            return
        customer_fit = 2 if inv.customer_id in families else stranger_fit
        if not direct and customer_fit < 2 and target != open_balance and not inv.discount_percent:
            return  # a spelling of the number only: neither the payer nor the amount agrees
        amount_fit = 2 if target == open_balance else _amount_fit(open_balance, inv, target, p)
        if not direct and customer_fit < 2 and amount_fit < 2:
            return
        # Ranked by the payer, then an amount that settles the invoice exactly, then how the number was found
        # (its own number before a PO number, spelt right before a typo), and only then whether the invoice
        # is at least the amount: for a bundle every invoice is smaller than the payment, so that last fit
        # must not put another invoice's PO number ahead of the number itself.
        candidates.append(((customer_fit, amount_fit == 2, REF_SCORE[kind], amount_fit), iid, kind))

    for kind, source in (("exact", idx.by_ref), ("po", idx.by_po)):
        for iid in _ids(source.get(ref.key)):
            consider(iid, kind, True)
    if candidates and any(c[0][0] == 2 or c[0][1] for c in candidates):
        pass  # a corroborated direct hit: no need to look at typos
    elif not families and (settling := idx.settling_exactly(target, currency, limit=64)) is not None:
        # Nobody identified the payer, so a mistyped number counts only where the amount settles its invoice:
        # look at the few invoices the amount settles instead of at every spelling of the number.
        for iid in settling:
            kind = _one_edit(ref.key, reference_key(invoices[iid].number))
            if kind:
                consider(iid, kind, False)
    else:
        by_ref = idx.by_ref
        for key, kind in one_edit_variants(ref.key):
            hit = by_ref.get(key)
            if hit is not None:
                for iid in (hit,) if type(hit) is int else hit:
                    consider(iid, kind, False)
    candidates.sort(key=lambda c: (c[0], -c[1]), reverse=True)
    return candidates, ref.raw


def _one_edit(key: str, other: str) -> str | None:
    """How `other` is one typing error away from `key` ('transposed', 'wrong digit'), as one_edit_variants
    spells them, or None."""
    if len(key) != len(other) or key == other:
        return None
    diffs = [i for i in range(len(key)) if key[i] != other[i]]
    if len(diffs) == 1:
        return "wrong digit"
    if (len(diffs) == 2 and diffs[1] == diffs[0] + 1 and key[diffs[0]] == other[diffs[1]]
            and key[diffs[1]] == other[diffs[0]]):
        return "transposed"
    return None


def _discount(inv: OpenInvoice, open_balance: Decimal) -> Decimal:
    if not inv.discount_percent or open_balance != inv.amount:
        return ZERO
    # In the currency's minor unit (yen have none, dinars three): what the customer can actually deduct.
    return quantize(inv.amount * inv.discount_percent / 100, inv.currency)


def _amount_fit(open_balance: Decimal, inv: OpenInvoice, target: Decimal, p: PaymentRecord) -> int:
    discount = _discount(inv, open_balance)
    if target == open_balance or (discount and target == open_balance - discount):
        return 2
    return 1 if target <= open_balance else 0


# --- 3. allocation -----------------------------------------------------------------------------------

def _settle(inv: OpenInvoice, open_balance: Decimal, paid: Decimal, p: PaymentRecord, settings: MatchSettings,
            reason_text: str) -> tuple[Allocation, str, float]:
    """Settle one invoice with `paid` (<= open): discount, write-off or deduction for the rest."""
    rest = open_balance - paid
    if rest == 0:
        return Allocation(inv.id, inv.number, paid), "amount equal", 1.0
    discount = _discount(inv, open_balance)
    if discount and rest == discount:
        grace = timedelta(days=settings.discount_grace_days)
        earned = inv.discount_due_date and p.date <= inv.discount_due_date + grace
        if earned:
            return (Allocation(inv.id, inv.number, paid, discount=discount),
                    f"{inv.discount_percent.normalize()}% early-payment discount taken in time", 0.99)
        return (Allocation(inv.id, inv.number, paid, deduction=discount, deduction_reason=REASON_UNEARNED_DISCOUNT),
                f"discount taken after {inv.discount_due_date}: unearned, a deduction", 0.95)
    if rest <= settings.write_off_tolerance:
        return (Allocation(inv.id, inv.number, paid, write_off=rest),
                f"{rest} short, within tolerance: written off", 0.97)
    reason, given = infer_reason(reason_text)
    label = reason.replace("_", " ")
    return (Allocation(inv.id, inv.number, paid, deduction=rest, deduction_reason=reason),
            f"short by {rest}: deduction ({label}{'' if given else ', no reason given'})", 0.95 if given else 0.93)


def _allocate_structured(chosen: list[tuple[int, object]], p, idx, settings) -> tuple[list, Decimal, list[str], float]:
    allocations, notes, score, remaining = [], [], 1.0, p.amount
    for iid, line in chosen:
        inv, open_balance = idx.invoices[iid], idx.open[iid]
        paid = min(line.amount_paid, open_balance, remaining)
        if paid <= 0:
            continue
        text = " ".join(x for x in (line.adjustment_reason, p.text) if x)
        if line.amount_paid > open_balance:
            alloc, note, s = Allocation(iid, inv.number, paid), "remittance pays more than is open", 0.9
        else:
            alloc, note, s = _settle(inv, open_balance, paid, p, settings, text)
        allocations.append(alloc)
        notes.append(note)
        score = min(score, s)
        remaining -= paid
    if allocations and remaining > 0:
        # The lines explain less than was paid: say so, as for invoices named without amounts.
        notes.append(f"overpaid by {remaining}: left on account")
        score = min(score, 0.95)
    return allocations, remaining, notes, score


def _allocate_total(ids: list[int], p, idx, settings) -> tuple[list, Decimal, list[str], float]:
    """Invoices named without amounts: settle them in due-date order; the shortfall lands on the last."""
    ids = sorted(ids, key=lambda i: (idx.invoices[i].due_date, i))
    total = sum((idx.open[i] for i in ids), ZERO)
    discounts = sum((_discount(idx.invoices[i], idx.open[i]) for i in ids), ZERO)
    allocations, notes, score, remaining = [], [], 1.0, p.amount
    if p.amount >= total:
        allocations = [Allocation(i, idx.invoices[i].number, idx.open[i]) for i in ids]
        over = p.amount - total
        notes.append("amount equal" if not over else f"overpaid by {over}: left on account")
        return allocations, over, notes, 1.0 if not over else 0.95
    if discounts and p.amount == total - discounts:
        for i in ids:
            inv = idx.invoices[i]
            alloc, note, s = _settle(inv, idx.open[i], idx.open[i] - _discount(inv, idx.open[i]), p, settings, p.text)
            allocations.append(alloc)
            notes.append(note)
            score = min(score, s)
        return allocations, ZERO, sorted(set(notes)), score
    for n, i in enumerate(ids):
        open_balance = idx.open[i]
        last = n == len(ids) - 1
        paid = min(open_balance, remaining) if not last else remaining
        if paid <= 0:
            return [], p.amount, ["named invoices exceed the amount by more than one invoice"], 0.0
        if last:
            alloc, note, s = _settle(idx.invoices[i], open_balance, paid, p, settings, p.text)
            notes.append(note)
            score = min(score, s)
        else:
            alloc = Allocation(i, idx.invoices[i].number, paid)
        allocations.append(alloc)
        remaining -= paid
    if len(ids) > 1:
        score = min(score, 0.9)  # which invoice the customer shorted is a guess
    return allocations, ZERO, notes, score


def _by_reference(p, idx, settings, payers, refs) -> list[Proposal]:
    resolved = []
    families = {c for cid in payers for c in idx.family(cid)}
    for ref in refs:
        candidates, raw = _resolve(ref, p, idx, payers, families)
        if candidates:
            resolved.append((ref, candidates, raw))
    proposals = _propose_by_reference(p, idx, settings, payers, resolved)
    direct = [r for r in resolved if r[1][0][2] in ("exact", "po")]
    if not proposals and direct and len(direct) < len(resolved):
        # Together with a number read as a mistyped invoice's (an RMA or order number in the text, one digit
        # from one of the payer's invoices), the invoices named exactly do not fit the amount: without it
        # they may, and that number is left aside, saying so.
        aside = ", ".join(sorted({raw for r, c, raw in resolved if c[0][2] not in ("exact", "po")}))
        proposals = _propose_by_reference(p, idx, settings, payers, direct,
                                          f"{aside} in the text left aside (not one of the invoices paid)")
    return proposals


def _propose_by_reference(p, idx, settings, payers, resolved, aside: str = "") -> list[Proposal]:
    # Numbers that point at someone else's invoice (an RMA or order number in the text) give way to the ones
    # that point at the payer's.
    best_fit = max((c[0][0][0] for _, c, _ in resolved), default=0)
    chosen, notes, ref_score, customer_fit_min, ambiguous = [], [], 1.0, 2, False
    seen = set()
    for ref, candidates, raw in resolved:
        (fit, iid, kind) = candidates[0]
        if fit[0] < best_fit:
            continue
        if iid in seen:
            continue
        if len(candidates) > 1 and candidates[1][0] == fit and candidates[1][1] not in seen:
            ambiguous = True
        seen.add(iid)
        chosen.append((iid, ref.line))
        ref_score = min(ref_score, REF_SCORE[kind])
        customer_fit_min = min(customer_fit_min, fit[0])
        inv = idx.invoices[iid]
        where = "remittance" if ref.line is not None else "the payment text"
        how = {"exact": "", "po": " by its PO number", "transposed": " with two digits transposed",
               "wrong digit": " with one digit wrong"}[kind]
        if kind == "exact" and raw.upper().replace(" ", "") != inv.number.upper().replace(" ", ""):
            how = " (prefix, zeros or letters for digits differ)"
        notes.append(f"invoice {inv.number} found in {where}{how}")
    if not chosen:
        return []
    structured = all(line is not None and line.amount_paid for _, line in chosen)
    if structured:
        allocations, on_account, amount_notes, amount_score = _allocate_structured(chosen, p, idx, settings)
    else:
        allocations, on_account, amount_notes, amount_score = _allocate_total([i for i, _ in chosen], p, idx, settings)
    if not allocations:
        return []
    customers = {idx.invoices[a.invoice_id].customer_id for a in allocations}
    payer_score, payer_note = _payer_agreement(customers, payers, idx)
    confidence = ref_score * amount_score * payer_score
    if not payers and amount_score < 1.0:
        confidence *= 0.85  # a number in the text, from someone we do not know, for another amount: ask
    if ambiguous:
        confidence = min(confidence, 0.6)
        notes.append("another invoice fits that reference equally well")
    explanation = "; ".join(notes + ([aside] if aside else []) + amount_notes + [payer_note])
    customer_id = next(iter(customers)) if len(customers) == 1 else None
    return [Proposal(customer_id, tuple(allocations), on_account, confidence, explanation)]


def _payer_agreement(customers: set[int], payers: dict, idx: MatchIndex) -> tuple[float, str]:
    if not payers:
        return 0.96, "payer not identified, the invoices' customer assumed"
    for cid, (score, reason) in sorted(payers.items(), key=lambda kv: -kv[1][0]):
        if customers <= idx.family(cid):
            # The payer's name only had to be close: the invoices' own customer being that payer is the proof.
            score = max(score, 0.93)
            if customers == {cid}:
                return min(1.0, 0.05 + score), reason
            return min(1.0, 0.03 + score), f"{reason}; parent {idx.customers[cid].name} pays for its subsidiary"
    return 0.75, "the invoices belong to another customer than the payer's"


# --- no reference: amount only -----------------------------------------------------------------------

def _by_amount(p, idx, settings, payers) -> list[Proposal]:
    proposals = []
    top = max((score for score, _ in payers.values()), default=0.0)
    payer_tie = sum(1 for score, _ in payers.values() if score == top) > 1
    for cid, (score, reason) in sorted(payers.items(), key=lambda kv: (-kv[1][0], kv[0])):
        if payer_tie:
            # Two customers answer to this name: an amount alone cannot say whose invoice it is.
            score = min(score, 0.6)
        family = sorted(idx.family(cid))
        exact, discounted = [], []
        for c in family:
            e, d = idx.settled_by(c, p.currency, p.amount)
            exact += e
            discounted += d
        for group, label in ((exact, "amount equals its open balance"),
                             (discounted, "amount equals it less the early-payment discount")):
            for i in group:
                alloc, note, s = _settle(idx.invoices[i], idx.open[i], p.amount, p, settings, p.text)
                unique = len(exact) + len(discounted) == 1
                proposals.append(Proposal(idx.invoices[i].customer_id, (alloc,), ZERO,
                                          score * 0.96 * s if unique else min(score, 0.6),
                                          f"no reference; invoice {idx.invoices[i].number}: {label}"
                                          + ("" if unique else " (so do others: ambiguous)") + f"; {note}; {reason}"))
        if exact or discounted:
            continue
        # Only now the family's live invoices in due order: most amount-only payments settle one invoice
        # exactly, found above by dictionary, and never need them.
        lives = [idx.customer_live(c, p.currency) for c in family]
        # Only the first candidates count (see _subset_sum): stop looking once there are more than that.
        amount = p.amount
        below = idx.live_below(family, p.currency, amount, MAX_BUNDLE_CANDIDATES + 1)
        # Among many open invoices some combination of four or more adds up to almost any amount by chance;
        # only a small combination from a short list is evidence.
        small_list = len(below) <= 25
        combos, complete = _subset_sum(below, p.amount, idx, settings.max_bundle_size,
                                       MAX_BUNDLE_NODES if small_list else MAX_BUNDLE_NODES_LONG_LIST)
        for combo in combos:
            unique = complete and len(combos) == 1 and len(combo) <= 3 and small_list
            allocations = tuple(Allocation(i, idx.invoices[i].number, idx.open[i]) for i in combo)
            numbers = ", ".join(idx.invoices[i].number for i in combo)
            proposals.append(Proposal(cid, allocations, ZERO, score * 0.94 if unique else min(score, 0.6),
                                      f"no reference; {len(combo)} open invoices ({numbers}) add up to the amount"
                                      + ("" if unique else " (other combinations may too)") + f"; {reason}"))
        if not combos and any(lives):
            # Nothing explains the amount: offer the oldest invoices, paid in order, for a clerk to judge.
            allocations, remaining = [], p.amount
            for i in islice(chain.from_iterable(lives), settings.max_bundle_size):
                if remaining <= 0:
                    break
                paid = min(idx.open[i], remaining)
                allocations.append(Allocation(i, idx.invoices[i].number, paid))
                remaining -= paid
            proposals.append(Proposal(cid, tuple(allocations), remaining, min(score, 0.4),
                                      "no reference and no invoice matches the amount; oldest invoices first; "
                                      + reason))
    return proposals


def _subset_sum(ids: list[int], amount: Decimal, idx: MatchIndex, max_size: int, max_nodes: int = MAX_BUNDLE_NODES
                ) -> tuple[list[list[int]], bool]:
    """Combinations of 2..max_size of the open invoices `ids` (each below `amount`, due order) summing exactly
    to `amount` (at most 3 returned). `complete` says the search was exhaustive over the candidates (so one
    found means the only one)."""
    # Whole units of the storage precision (1/10,000), so that three-decimal currencies add up exactly too.
    items = [(int(idx.open[i].scaleb(4)), i) for i in ids[:MAX_BUNDLE_CANDIDATES]]
    items.sort(reverse=True)
    found, exhausted = _walk([v for v, _ in items], [i for _, i in items], int(amount.scaleb(4)), max_size, max_nodes)
    invoices = idx.invoices
    combos = [sorted(combo, key=lambda i: (invoices[i].due_date, i)) for combo in found]
    return combos, exhausted and len(ids) <= MAX_BUNDLE_CANDIDATES  # the caller passes one more when there are more


def _walk(values: list[int], ids: list[int], target: int, max_size: int, max_nodes: int
          ) -> tuple[list[list[int]], bool]:
    """Depth-first search, largest value first, for subsets of 2..max_size values summing to `target`: up to
    three of them, and whether the search ran to its end within `max_nodes` visits. Every item looked at in a
    loop is a visit, and the walk stops at the first visit over the budget or at the third subset found.

    The hot loop of reference-free payments (a third of a skewed run's matching, written recursively): one
    loop with an explicit stack and locals, and runs of items too large for what is left skipped by bisection,
    each still counted as a visit, so that the budget, and with it every answer, is exactly the recursive
    walk's."""
    n = len(values)
    suffix = [0] * (n + 1)  # suffix[k]: what items k.. add up to; less than what is left ends the loop
    for k in range(n - 1, -1, -1):
        suffix[k] = suffix[k + 1] + values[k]
    descending = [-v for v in values]  # ascending, for bisect
    found: list[list[int]] = []
    chosen: list[int] = []  # indexes of the values taken so far
    frames: list[tuple[int, int]] = []  # (k, remaining) of the loops below the current one
    k, remaining, nodes = 0, target, 0
    while True:
        if k < n:
            value = values[k]
            if value > remaining:
                # Every item up to the first that fits is a visit that goes on to the next.
                fits = bisect_left(descending, -remaining, k)
                nodes += fits - k
                if nodes > max_nodes:
                    return found, False
                k = fits
                continue
            nodes += 1
            if nodes > max_nodes:
                return found, False
            if suffix[k] < remaining:
                k = n  # the rest cannot reach it: this loop ends
                continue
            if value == remaining:
                if chosen:
                    found.append([*(ids[c] for c in chosen), ids[k]])
                    if len(found) > 2:
                        return found, True
                k += 1
                continue
            if len(chosen) + 1 < max_size:
                frames.append((k, remaining))
                chosen.append(k)
                k, remaining = k + 1, remaining - value
                continue
            k += 1
            continue
        if not frames:
            return found, True
        k, remaining = frames.pop()
        chosen.pop()
        k += 1


# --- 4. decide ---------------------------------------------------------------------------------------

def _decide(p: PaymentRecord, idx: MatchIndex, settings: MatchSettings) -> Decision:
    payers = _identify_payer(p, idx)
    refs = _references(p)
    proposals = _by_reference(p, idx, settings, payers, refs) if refs else []
    if not proposals:
        proposals = _by_amount(p, idx, settings, payers)
    if not proposals and not payers:
        global_hits = idx.live(idx.by_amount.get(p.amount, ()), p.currency)
        if len(global_hits) == 1:
            inv = idx.invoices[global_hits[0]]
            proposals = [Proposal(inv.customer_id, (Allocation(inv.id, inv.number, p.amount),), ZERO, 0.5,
                                  f"payer unknown; {inv.number} is the only open invoice of this amount")]
    payer_id = max(payers, key=lambda c: (payers[c][0], -c)) if payers else None
    if not proposals:
        why = "payer not identified and nothing in the remittance matches an open invoice" if not payers else (
            f"payer {idx.customers[payer_id].name} ({payers[payer_id][1]}) has no open invoice that explains it")
        return Decision(p.id, UNMATCHED, (), payer_id, why)
    proposals.sort(key=lambda pr: (-pr.confidence, pr.explanation))
    proposals = proposals[:5]
    best = proposals[0]
    runner_up = proposals[1].confidence if len(proposals) > 1 else 0.0
    customer_id = best.customer_id or payer_id
    if best.confidence >= settings.auto_apply_threshold and best.confidence - runner_up >= 0.05 and best.allocations:
        idx.consume(best)
        return Decision(p.id, AUTO, (best,), customer_id, best.explanation)
    why = best.explanation if len(proposals) == 1 else f"{len(proposals)} possible answers; best: {best.explanation}"
    return Decision(p.id, SUGGEST, tuple(proposals), customer_id, why)


def match_payments(payments: Iterable[PaymentRecord], index: MatchIndex,
                   settings: MatchSettings | None = None) -> list[Decision]:
    settings = settings or MatchSettings()
    return [_decide(p, index, settings) for p in payments]
