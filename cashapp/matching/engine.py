"""The matcher: who paid, which invoices, how the money splits, how sure we are, and why.

For each payment, in order:
1. Payer: the remitter's account on file, the payer's name or an alias (legal suffixes dropped), a name
   cut short by the bank, a name spelt slightly differently. A parent may pay its subsidiaries' invoices.
2. References: every document number in the structured remittance and the free text, read the way a
   person would (no prefix, no leading zeros, O for 0, S for 5, digits in groups), looked up in a dictionary
   of the open invoices' numbers and PO numbers; when nothing is found, one typing error away (adjacent
   digits transposed, one digit wrong, one too many or missing). With dense invoice numbering every number
   is "some invoice", so a reference only counts when the payer or the amount agrees with it. Every
   document the remittance names must be accounted for: a payment is never posted in part.
3. Amount: the found invoices are settled in full, with an early-pay discount when it was earned, a
   deduction for a short pay (its reason read from the text), an overpayment left on account. With no
   reference, an amount that exactly one open invoice of the payer (or one combination of them) explains.
4. Confidence: computed from the evidence each proposal records (payer, each reference, amount, what
   speaks against), with the weights of `evidence.py`, then calibrated (`calibration.py`). A unique answer
   at or above the tenant's threshold is posted; two answers alike are suggested, never posted.

Every lookup is a dictionary access: the cost per payment does not grow with the ledger.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import chain, islice, product
from math import prod
from operator import attrgetter

from o2c.money import minor_unit, quantize

from . import evidence as ev
from .normalize import (
    close_numbers,
    name_key,
    one_edit_kind,
    one_edit_variants,
    reference_key,
    reference_mentions,
)
from .payer import LEGAL_FORM_REASON, PayerIndex, identify_payer
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
# How each kind of reference read is said (weights: evidence.REFERENCE). "close": see _rescue.
REF_HOW = {"exact": "", "po": " by its PO number", "transposed": " with two digits transposed",
           "wrong digit": " with one digit wrong", "digit added": " with one digit too many",
           "digit dropped": " with one digit missing",
           "close": " as the remainder of the payment, its number close to what was written",
           "serial": " by its serial number alone"}
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
_DUE, _ID = attrgetter("due_date"), attrgetter("id")
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
        # Customers whose name is another's followed by more words ('Acme Foods Canada Inc.' for 'Acme Foods LLC'):
        # a subsidiary or branch by its name, when the master data records no parent (see _kin_by_name).
        self.kin: dict[int, tuple[int, ...]] = {}
        self.payers = PayerIndex()  # names, aliases and accounts: see payer.py
        self.by_account: dict[str, int] = self.payers.by_account
        self.invoices: dict[int, OpenInvoice] = {}
        self.open: dict[int, Decimal] = {}
        self.by_ref: dict[str, int | list[int]] = {}
        # The lengths of the keys by_ref ever held (a refresh does not take any out: a length too many only costs
        # lookups that miss): a typo's spellings of any other length are no invoice's, and are not looked up.
        self.ref_lengths: set[int] = set()
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
        self._by_balance: dict[tuple[int, str], dict[Decimal, list[int]]] = {}  # see settled_by
        self._part_paid: dict[Decimal, list[int]] = defaultdict(list)  # balances left by this run's postings
        self._discounted_all: dict[Decimal, list[int]] | None = None  # see settling_exactly()
        # Invoice id -> (its record, the amounts that settle it less its discount): computed once for the two
        # tables above that need them, not once for each (the cache of _options is smaller than a big ledger's
        # discounted invoices). See _amounts_less_discount.
        self._less_discount: dict[int, tuple[OpenInvoice, tuple[Decimal, ...]]] = {}
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
        payers = PayerIndex()  # names, aliases and accounts: see payer.py
        for c in customers:
            self.customers[c.id] = c
            if c.parent_id:
                self.children[c.parent_id].append(c.id)
            payers.add(c)
        payers.finish()
        self.payers, self.by_account = payers, payers.by_account
        self.kin = _kin_by_name(self.customers, payers)

    def _add_invoices(self, invoices: Iterable[OpenInvoice]) -> None:
        # The hot loop of a run's set-up (a million invoices): locals, no attribute lookups on self, and the
        # three "bare id, then a list" insertions written out rather than called (2.5 million calls, ~0.2 s).
        invoices_, open_, by_ref, by_po = self.invoices, self.open, self.by_ref, self.by_po
        by_customer, by_amount, with_discount = self.by_customer, self.by_amount, self.with_discount
        ref_key = reference_key
        ref_lengths = self.ref_lengths
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
                    ref_lengths.add(len(key))
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

    def refresh(self, customers: Iterable[CustomerRecord] | None, invoices: Iterable[OpenInvoice],
                closed: Iterable[int]) -> None:
        """Bring a kept index up to date with the ledger instead of building it again: every customer (the payer
        side is rebuilt; None keeps it as it is), the open invoices that changed (new, paid in part, edited), and
        those no longer open (`closed`: paid, voided). The caller must pass every invoice this index consumed since the
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
        if customers is not None:  # None: the caller found none of them changed
            self._index_customers(customers)
        changed = closed | {inv.id for inv in invoices}
        missing = self.consumed - changed
        if missing:
            raise ValueError(f"refresh without the {len(missing)} invoices this index consumed")
        # Out with the old entries: one step each from the customer's dicts, and each list of ids by number or
        # amount filtered once however many of its ids go (an amount shared by thousands of invoices).
        touched_customers: set[int] = set()
        by_key: dict[tuple[int, object], set[int]] = defaultdict(set)
        for iid in changed:
            old = self.invoices.pop(iid, None)
            self._less_discount.pop(iid, None)  # of a record replaced or gone
            if old is None:
                continue
            del self.open[iid]
            touched_customers.add(old.customer_id)
            self.by_customer[old.customer_id].pop(iid, None)
            if old.discount_percent:
                self.with_discount.get(old.customer_id, {}).pop(iid, None)
                for d in _discount_options(old, old.amount):
                    by_key[(3, old.amount - d)].add(iid)  # where settling_exactly's table put it
            by_key[(0, reference_key(old.number))].add(iid)
            if old.po_number:
                by_key[(1, reference_key(old.po_number))].add(iid)
            by_key[(2, old.open_balance)].add(iid)  # where _add_invoices put it: by its balance then
        discounted = self._discounted_all
        maps = (self.by_ref, self.by_po, self.by_amount, discounted if discounted is not None else {})
        for (which, key), ids in by_key.items():
            hit = maps[which].get(key)
            if hit is None:
                continue
            left = [i for i in _ids(hit) if i not in ids]
            if not left:
                del maps[which][key]
            elif which == 3:
                maps[which][key] = left  # lists always there
            else:
                maps[which][key] = left[0] if len(left) == 1 else left
        self._add_invoices(invoices)
        for inv in invoices:
            touched_customers.add(inv.customer_id)
            # The ledger-wide table of discounted amounts is kept up to date rather than dropped: built again it
            # is a walk over every invoice with a discount (1.3 s at a million invoices), the first thing a run
            # of a few payments would pay for.
            if discounted is not None and inv.discount_percent and inv.open_balance > 0:
                for d in _discount_options(inv, inv.amount):
                    discounted[inv.amount - d].append(inv.id)
        # The per-customer views built on first use are built again on next use; the balances this index
        # consumed are the ledger's again, so nothing is findable by what a run left over.
        for views in (self._live, self._after_discount, self._blocks, self._by_balance):
            for key in [k for k in views if k[0] in touched_customers]:
                del views[key]
        self._part_paid = defaultdict(list)
        self.consumed = set()

    def family(self, customer_id: int) -> set[int]:
        """A payer and the subsidiaries it pays for."""
        return {customer_id, *self.children.get(customer_id, ())}

    def family_and_kin(self, customer_id: int) -> set[int]:
        """family(), and the customers named as its branches (see _kin_by_name)."""
        return self.family(customer_id).union(self.kin.get(customer_id, ()))

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
            # Filtered first, in the customer's dict order (the order the records were made in, a walk through
            # memory), then sorted. Invoices added in id order (a build) sort by due date alone: the sort is
            # stable, and not making a tuple per invoice halves it.
            mine = self.by_customer.get(customer_id, {})
            open_ = self.open
            invoices = [inv for i, inv in mine.items() if inv.currency == currency and open_[i] > 0]
            ids = list(mine)
            invoices.sort(key=_DUE if ids == sorted(ids) else _DUE_ORDER)
            live = self._live[key] = dict.fromkeys(map(_ID, invoices))
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
                # A block at once (a comprehension, not a loop with a test per id), cut to `limit` at the end.
                below = [i for i in block[1] if i in live and open_[i] < amount]
                if below:
                    found += below
                    if len(found) >= limit:
                        return found[:limit]
        return found

    def settled_by(self, customer_id: int, currency: str, amount: Decimal) -> tuple[list[int], list[int]]:
        """The customer's live invoices whose open balance is `amount`, and those it settles less an
        early-pay discount (whether the discount was earned is for the caller to judge)."""
        key = (customer_id, currency)
        open_, invoices = self.open, self.invoices
        by_balance = self._by_balance.get(key)
        if by_balance is None:
            # The customer's own invoices by open balance, built on first use: an amount thousands of invoices of
            # the ledger share (100.00) costs this customer's few, not a walk over all of them per payment.
            by_balance = self._by_balance[key] = {}
            for i, inv in self.by_customer.get(customer_id, {}).items():
                if inv.currency == currency:
                    balance = open_[i]
                    if balance > 0:
                        hit = by_balance.get(balance)
                        if hit is None:
                            by_balance[balance] = [i]
                        else:
                            hit.append(i)
        # Balances this run left part-paid are findable by what is left (_part_paid); a view built after that
        # holds them too, hence the dict (only then: the view's own ids are distinct).
        part_paid = self._part_paid.get(amount)
        candidates = by_balance.get(amount, ())
        if part_paid:
            candidates = dict.fromkeys(chain(candidates, part_paid))
        exact = [i for i in candidates if open_[i] == amount and invoices[i].customer_id == customer_id
                 and invoices[i].currency == currency]
        after_discount = self._after_discount.get(key)
        if after_discount is None:
            after_discount = self._after_discount[key] = defaultdict(list)
            memo = self._less_discount
            for i in self.with_discount.get(customer_id, ()):
                inv = invoices[i]
                if inv.currency == currency and open_[i] == inv.amount:
                    for settling in _amounts_less_discount(inv, memo):
                        after_discount[settling].append(i)
        discounted = [i for i in after_discount.get(amount, ())
                      if open_[i] != amount and open_[i] - amount in _discount_options(invoices[i], open_[i])]
        return exact, discounted

    def settling_exactly(self, amount: Decimal, currency: str, limit: int) -> list[int] | None:
        """The live invoices in `currency` that `amount` settles exactly: their open balance, or their amount less
        the early-pay discount while they are wholly open. None when there are more than `limit` (the caller then
        takes another way)."""
        if self._discounted_all is None:
            # Every invoice offering a discount, by what settles it less the discount: built on first use.
            discounted = self._discounted_all = defaultdict(list)
            invoices, memo = self.invoices, self._less_discount
            for ids in self.with_discount.values():
                for i in ids:
                    for settling in _amounts_less_discount(invoices[i], memo):
                        discounted[settling].append(i)
        open_, invoices = self.open, self.invoices
        # Counted before they are gathered: a round amount (100.00) is thousands of invoices' balance.
        by_balance, part_paid = self.by_amount.get(amount), self._part_paid.get(amount, ())
        less_discount = self._discounted_all.get(amount, ())
        if ((0 if by_balance is None else 1 if type(by_balance) is int else len(by_balance)) + len(part_paid)
                + len(less_discount) > limit):
            return None
        candidates = [*_ids(by_balance), *part_paid, *less_discount]
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


def _amounts_less_discount(inv: OpenInvoice, memo: dict) -> tuple[Decimal, ...]:
    """What settles an invoice offering a discount, wholly open, less the discount (each rounding of
    _discount_options, in its order). Kept in `memo` by invoice id with the record it was computed from: a refresh
    replaces an invoice's record, and a memo of another record is computed again."""
    kept = memo.get(inv.id)
    if kept is not None and kept[0] is inv:
        return kept[1]
    gross = inv.amount
    amounts = tuple(gross - d for d in _discount_options(inv, gross))
    memo[inv.id] = (inv, amounts)
    return amounts


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
    """customer id -> (strength 0..1, reason): see payer.py."""
    return identify_payer(p, idx.payers)


# --- 2. references -----------------------------------------------------------------------------------

class _Ref:
    """One document the remittance names: its possible keys (most likely first), its structured line if any,
    and how it was written. `grouped`: digits written in groups, a reading that needs the ledger's word."""

    __slots__ = ("keys", "line", "raw", "grouped", "exact_only")

    def __init__(self, keys, line, raw, grouped=False, exact_only=False):
        self.keys, self.line, self.raw, self.grouped = keys, line, raw, grouped
        # From the end-to-end id: an invoice number there was copied by the payer's system, so only the number
        # as written counts; a number near it is the payment's own id, not a mistyped invoice.
        self.exact_only = exact_only

    @property
    def key(self) -> str:
        return self.keys[0]


def _references(p: PaymentRecord) -> list[_Ref]:
    refs, seen = [], set()
    for line in p.lines:
        if line.reference_type == "credit_memo":
            continue
        key = reference_key(line.reference)
        if key and key not in seen:
            seen.add(key)
            refs.append(_Ref((key,), line, line.reference))
    for m in reference_mentions(p.text):
        if m.keys[0] not in seen:
            seen.update(m.keys[:1])
            refs.append(_Ref(m.keys, None, m.written, m.grouped))
    for m in reference_mentions(p.end_to_end) if p.end_to_end else ():
        if m.keys[0] not in seen:
            seen.update(m.keys[:1])
            refs.append(_Ref(m.keys[:1], None, m.written, exact_only=True))
    return refs


def _tracked(ref: _Ref, numbers: list[str], own=None) -> bool:
    """Whether the remittance names a document here that the payment must account for: every structured line,
    and in the text a number written like the invoices it pays (their prefix, or digits in groups, or as many
    digits as their numbers). 'RMA 5513' or 'ref 88123' next to them is another kind of number."""
    if ref.exact_only:
        return False  # the payment's own id unless it names an invoice: nothing to account for
    if ref.line is not None or ref.grouped:
        return True
    prefix = _letter_prefix(ref.raw)
    for number in numbers:
        theirs = _letter_prefix(number)
        if prefix and theirs and (prefix.startswith(theirs) or theirs.startswith(prefix)):
            return True
        theirs_key = len(reference_key(number))
        if not prefix and len(ref.key) >= 4 and len(ref.key) == len(_serial_key(number)):
            return True  # written like the serial part of the invoices' numbers ('036023' of INV-2026-036023)
        if not prefix and len(ref.key) >= 5 and abs(len(ref.key) - theirs_key) <= 1:
            return True
        if (not prefix and own is not None and theirs_key >= 5 and len(ref.key) in (2 * theirs_key, 3 * theirs_key)
                and any(own(ref.key[k:k + theirs_key]) for k in range(0, len(ref.key), theirs_key))):
            # Numbers glued by a wrapped line, one of them the payer's open invoice, another not read: a
            # document all the same. (A long PO number merely as long as two invoice numbers is not one.)
            return True
    return False


_LETTERS_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _letter_prefix(written: str) -> str:
    """The letters a number is written after, upper case ('INV' of 'inv-0004512', 'PO' of 'PO 8658647986')."""
    upper = written.upper()
    return upper[:len(upper) - len(upper.lstrip(_LETTERS_UPPER))]


def _serial_key(number: str) -> str:
    """The key of a number's last group when digits come before it ('INV-2026-036023' -> 36023: the serial after
    a year or series, what a payer may write alone); empty for a number in one group ('INV-0004512')."""
    cut = max(number.rfind("-"), number.rfind("/"), number.rfind(" "))
    if cut <= 0 or not any(ch.isdigit() for ch in number[:cut]):
        return ""
    return reference_key(number[cut + 1:])


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
        if ref.exact_only and amount_fit < 2:
            return  # the payment's own id: an invoice number there is that of the one invoice it pays
        # Ranked by the payer, then an amount that settles the invoice exactly, then how the number was found
        # (its own number before a PO number, spelt right before a typo), and only then whether the invoice
        # is at least the amount: for a bundle every invoice is smaller than the payment, so that last fit
        # must not put another invoice's PO number ahead of the number itself.
        candidates.append(((customer_fit, amount_fit == 2, ev.REFERENCE[kind], amount_fit), iid, kind))

    def own_spellings() -> None:
        """The payer's invoices the amount settles whose number is one typing error from the one written, or whose
        serial is the number written ('276253' for INV-2026-276253: the year or series left out)."""
        for iid in _settled_in_families(idx, families, target, currency):
            if invoices[iid].customer_id in families:
                number = invoices[iid].number
                kind = _one_edit(ref.key, reference_key(number)) or (
                    "serial" if ref.key == _serial_key(number) else None)
                if kind:
                    consider(iid, kind, False)

    # A number in the payment's own id counts only where the amount settles that invoice: 'E2E2506' is as likely
    # the payer's 2,506th payment as its invoice SI002506.
    direct = not ref.exact_only
    for key in ref.keys:  # each reading of digits written in groups, the likeliest first
        for kind, source in (("exact", idx.by_ref), ("po", idx.by_po)):
            for iid in _ids(source.get(key)):
                consider(iid, kind, direct)
    if ref.exact_only or any(c[0][1] and (c[0][0] == 2 or not families) for c in candidates):
        pass  # a direct hit the amount settles (or an id copied, never typed): no need to look at typos
    elif families and any(c[0][1] for c in candidates):
        # Another customer's invoice, named exactly for exactly the amount: a payment on its behalf, or the
        # payer's own invoice of a round amount with two digits swapped. Its own spelling is looked for too.
        own_spellings()
    elif candidates and any(c[0][0] == 2 for c in candidates):
        # The payer's own number, but the amount does not settle it: with dense numbering a digit slipped in or
        # out may spell another of its invoices, the one the amount settles. Both are kept (see ambiguity).
        own_spellings()
    elif not families and (settling := idx.settling_exactly(target, currency, limit=64)) is not None:
        # Nobody identified the payer, so a mistyped number counts only where the amount settles its invoice:
        # look at the few invoices the amount settles instead of at every spelling of the number.
        for iid in settling:
            kind = _one_edit(ref.key, reference_key(invoices[iid].number))
            if kind:
                consider(iid, kind, False)
    else:
        by_ref = idx.by_ref
        for key, kind in one_edit_variants(ref.key, idx.ref_lengths):
            hit = by_ref.get(key)
            if hit is not None:
                for iid in (hit,) if type(hit) is int else hit:
                    # Most spellings are some other customer's invoice, for another amount: what consider()
                    # would turn away, told apart here without the call.
                    inv = invoices[iid]
                    if inv.customer_id in families or inv.discount_percent or open_[iid] == target:
                        consider(iid, kind, False)
        if not any(c[0][0] == 2 for c in candidates):
            # A digit left out has ten times the spellings: look at the few invoices the amount settles instead
            # (one dictionary lookup), the payer's among them; for an amount many invoices have, per customer.
            own_spellings()
    candidates.sort(key=lambda c: (c[0], -c[1]), reverse=True)
    return candidates, ref.raw


def _settled_in_families(idx: MatchIndex, families: set[int], amount: Decimal, currency: str) -> list[int]:
    """Invoices the amount settles, the payer's families' among them: from the ledger-wide table when few
    invoices have the amount, else (a round 800.00 that hundreds have) from each family customer's own."""
    settling = idx.settling_exactly(amount, currency, limit=64)
    if settling is None:
        settling = [i for cid in sorted(families)[:50] for i in chain(*idx.settled_by(cid, currency, amount))]
    return settling


def _one_edit(key: str, other: str) -> str | None:
    """How `other` is one typing error away from `key`, as one_edit_variants spells them, or None."""
    return one_edit_kind(key, other)


def _discount_options(inv: OpenInvoice, open_balance: Decimal) -> tuple[Decimal, ...]:
    """The discounts a customer may have deducted for the terms: the percentage of the amount rounded to the
    minor unit as we round (half even), as most customers' systems round (half up), or cut off. Reading only
    ours turned a discount taken in time into a short pay of the same size ('discount' in the text: unearned)."""
    if not inv.discount_percent or open_balance != inv.amount:
        return ()
    return _options(inv.amount, inv.discount_percent, inv.currency)


@lru_cache(maxsize=65536)
def _options(amount: Decimal, percent: Decimal, currency: str) -> tuple[Decimal, ...]:
    # Cached: the hot loop of _resolve asks for each candidate invoice, and amounts repeat. One quantize and a
    # comparison instead of three quantizes: this also runs once per discounted invoice of the ledger.
    exact = amount * percent / 100
    unit = minor_unit(currency)
    down = exact.quantize(unit, rounding=ROUND_DOWN)
    rest = (exact - down) * 2
    if rest < unit:  # below half a unit (or none): every rounding gives `down`
        return (down,)
    if rest > unit:  # above half: half even and half up round up, a cut-off does not
        return (down + unit, down)
    even = exact.quantize(unit, rounding=ROUND_HALF_EVEN)  # exactly half: half up rounds up, half even to even
    return (even, down + unit) if even == down else (even, down)


_ROUNDINGS = (ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_DOWN)


def _discount_by_rounding(inv: OpenInvoice, open_balance: Decimal) -> tuple[Decimal, ...]:
    """The discount under each of _ROUNDINGS, in that order; () when the invoice offers none (or is part-paid)."""
    if not inv.discount_percent or open_balance != inv.amount:
        return ()
    exact = inv.amount * inv.discount_percent / 100
    unit = minor_unit(inv.currency)
    return tuple(exact.quantize(unit, rounding=r) for r in _ROUNDINGS)


def _earned(inv: OpenInvoice, p: PaymentRecord, settings: MatchSettings) -> bool:
    """The payment's date (value date, else booking date) on or before the discount's last day plus grace."""
    return bool(inv.discount_due_date) and p.date <= inv.discount_due_date + timedelta(
        days=settings.discount_grace_days)


def _amount_fit(open_balance: Decimal, inv: OpenInvoice, target: Decimal, p: PaymentRecord) -> int:
    if target == open_balance or (inv.discount_percent
                                  and open_balance - target in _discount_options(inv, open_balance)):
        return 2
    return 1 if target <= open_balance else 0


def _money(amount: Decimal, currency: str) -> Decimal:
    """An amount as explanations print it: in the currency's minor unit ('10.00', not the storage's '10.0000')."""
    return quantize(amount, currency)


# --- 3. allocation -----------------------------------------------------------------------------------

def _settle(inv: OpenInvoice, open_balance: Decimal, paid: Decimal, p: PaymentRecord, settings: MatchSettings,
            reason_text: str) -> tuple[Allocation, str, ev.Evidence]:
    """Settle one invoice with `paid` (<= open): discount, write-off or deduction for the rest."""
    rest = open_balance - paid
    if rest == 0:
        return Allocation(inv.id, inv.number, paid), "amount equal", ev.amount("equal")
    if rest in _discount_options(inv, open_balance):
        discount = rest
        if _earned(inv, p, settings):
            return (Allocation(inv.id, inv.number, paid, discount=discount),
                    f"{inv.discount_percent.normalize()}% early-payment discount taken in time",
                    ev.amount("discount earned"))
        return (Allocation(inv.id, inv.number, paid, deduction=discount, deduction_reason=REASON_UNEARNED_DISCOUNT),
                f"discount taken after {inv.discount_due_date}: unearned, a deduction", ev.amount("unearned discount"))
    if rest <= settings.write_off_tolerance:
        return (Allocation(inv.id, inv.number, paid, write_off=rest),
                f"{_money(rest, inv.currency)} short, within tolerance: written off", ev.amount("written off"))
    reason, given = infer_reason(reason_text)
    label = reason.replace("_", " ")
    return (Allocation(inv.id, inv.number, paid, deduction=rest, deduction_reason=reason),
            f"short by {_money(rest, inv.currency)}: deduction ({label}{'' if given else ', no reason given'})",
            ev.amount("short, reason given" if given else "short, no reason"))


def _allocate_structured(chosen: list[tuple[int, object]], p, idx, settings
                         ) -> tuple[list, Decimal, list[str], list[ev.Evidence]]:
    allocations, notes, found, remaining = [], [], [], p.amount
    for iid, line in chosen:
        inv, open_balance = idx.invoices[iid], idx.open[iid]
        paid = min(line.amount_paid, open_balance, remaining)
        if paid <= 0:
            continue
        text = " ".join(x for x in (line.adjustment_reason, p.text) if x)
        if line.amount_paid > open_balance:
            alloc, note, s = (Allocation(iid, inv.number, paid), "remittance pays more than is open",
                              _overpaid(line.amount_paid - open_balance, open_balance))
        else:
            alloc, note, s = _settle(inv, open_balance, paid, p, settings, text)
        allocations.append(alloc)
        notes.append(note)
        found.append(s)
        remaining -= paid
    if allocations and remaining > 0:
        # The lines explain less than was paid: say so, as for invoices named without amounts.
        notes.append(f"overpaid by {_money(remaining, p.currency)}: left on account")
        found.append(_overpaid(remaining, p.amount - remaining))
    return allocations, remaining, notes, found


def _overpaid(over: Decimal, settled: Decimal) -> ev.Evidence:
    return ev.amount("overpaid" if over <= settled else "overpaid, more than the invoices")


def _discount_plan(ids: list[int], short: Decimal, p, idx, settings) -> dict[int, Decimal] | None:
    """The discount per invoice that explains a bundle paid `short` of its open total: taken on the invoices
    whose window the payment's date is in (the others paid in full), else on every invoice offering one (the
    late ones then unearned). A customer's system rounds every invoice's discount one way (see
    _discount_options): the first rounding that explains the total decides."""
    options = {i: _discount_by_rounding(idx.invoices[i], idx.open[i]) for i in ids}
    offering = [i for i in ids if options[i]]
    earned = [i for i in offering if _earned(idx.invoices[i], p, settings)]
    for taken in (earned, offering):
        if not taken:
            continue
        for k in range(len(_ROUNDINGS)):
            if sum((options[i][k] for i in taken), ZERO) == short:
                return {i: options[i][k] for i in taken}
    return None


def _allocate_total(ids: list[int], p, idx, settings) -> tuple[list, Decimal, list[str], list[ev.Evidence]]:
    """Invoices named without amounts: settle them in due-date order; the shortfall lands on the last."""
    ids = sorted(ids, key=lambda i: (idx.invoices[i].due_date, i))
    total = sum((idx.open[i] for i in ids), ZERO)
    allocations, notes, found, remaining = [], [], [], p.amount
    if p.amount >= total:
        allocations = [Allocation(i, idx.invoices[i].number, idx.open[i]) for i in ids]
        over = p.amount - total
        notes.append("amount equal" if not over else f"overpaid by {_money(over, p.currency)}: left on account")
        return allocations, over, notes, [_overpaid(over, total) if over else ev.amount("equal")]
    plan = _discount_plan(ids, total - p.amount, p, idx, settings)
    if plan is not None:
        for i in ids:
            inv = idx.invoices[i]
            alloc, note, s = _settle(inv, idx.open[i], idx.open[i] - plan.get(i, ZERO), p, settings, p.text)
            allocations.append(alloc)
            notes.append(note)
            found.append(s)
        return allocations, ZERO, sorted(set(notes)), found
    for n, i in enumerate(ids):
        open_balance = idx.open[i]
        last = n == len(ids) - 1
        paid = min(open_balance, remaining) if not last else remaining
        if paid <= 0:
            return [], p.amount, ["named invoices exceed the amount by more than one invoice"], []
        if last:
            alloc, note, s = _settle(idx.invoices[i], open_balance, paid, p, settings, p.text)
            notes.append(note)
            found.append(s)
        else:
            alloc = Allocation(i, idx.invoices[i].number, paid)
        allocations.append(alloc)
        remaining -= paid
    if len(ids) > 1:
        found.append(ev.amount("short, shortfall put on the last due"))  # which one was shorted is a guess
    return allocations, ZERO, notes, found


def _unglued(refs: list[_Ref], idx: MatchIndex, families: set[int]) -> list[_Ref]:
    """Two numbers written without a space between them ('41279114135254': a text wrapped at the field's width
    and joined again) are two invoices when the digits cut in exactly one place into two open invoices of one
    customer, the payer's when it is known. (With dense numbering any long number, a PO's say, cuts into two
    numbers of the ledger somewhere.)"""
    out = []
    for ref in refs:
        key = ref.key
        if ref.line is None and len(ref.keys) == 1 and len(key) >= 8 and key.isdigit() and key not in idx.by_ref \
                and key not in idx.by_po and not _po_labelled(ref.raw):
            cuts = [(left, right) for c in range(3, len(key) - 2)
                    if _one_customers_open(idx, left := reference_key(key[:c]), right := reference_key(key[c:]),
                                           families)]
            if not cuts and families:
                # One of the two mistyped ('45236814442085': 4523861 with two digits swapped, then 4442085): the
                # digits cut in one place only into an open invoice of the payer and a number one typing error
                # from another of its invoices, which is then read as any number of the text (a typo counts where
                # the payer or the amount agrees, and one not read holds the payment back).
                cuts = [(left, right) for c in range(3, len(key) - 2)
                        if _one_half_the_payers(idx, left := reference_key(key[:c]), right := reference_key(key[c:]),
                                                families)]
            if len(cuts) == 1:
                (left, right), = cuts
                out += [_Ref((left,), None, left), _Ref((right,), None, right)]
                continue
        out.append(ref)
    return out


def _po_labelled(written: str) -> bool:
    """Whether a number was written as a purchase order's ('PO 8658647986'; normalize writes 'P.O.', 'PO#' and
    'PO NO:' so): one number, whatever invoice numbers its digits happen to cut into (a large customer's are dense
    enough for both halves)."""
    return _letter_prefix(written) == "PO"


def _joined(refs: list[_Ref], idx: MatchIndex, families: set[int]) -> list[_Ref]:
    """One number written in two pieces ('INV-20 26-025765', 'INV 2026 026018': a text wrapped at the field's
    width, or a number's groups written apart) is one reference when neither piece is an invoice number and the
    two read together are an open invoice of the payer's family (of anyone's when the payer is unknown)."""
    out, k, by_ref = [], 0, idx.by_ref
    while k < len(refs):
        a = refs[k]
        if k + 1 < len(refs) and a.line is None and not a.exact_only and a.key not in by_ref:
            b = refs[k + 1]
            if b.line is None and not b.exact_only and b.key not in by_ref:
                key = reference_key(a.raw + b.raw)
                owners = _open_owners(idx, key) if key in by_ref else set()
                if owners and (not families or owners & families):
                    out.append(_Ref((key,), None, f"{a.raw} {b.raw}"))
                    k += 2
                    continue
        out.append(a)
        k += 1
    return out


def _one_half_the_payers(idx: MatchIndex, left: str, right: str, families: set[int]) -> bool:
    """One of the two keys is an open invoice of the payer's family, the other one typing error from another of
    them. (Any long number, a PO's, cuts somewhere into one of the payer's invoices and a number as long as
    invoice numbers: the second half must be near one too.)"""
    for whole, typed in ((left, right), (right, left)):
        if len(typed) in idx.ref_lengths and whole in idx.by_ref and _open_owners(idx, whole) & families and any(
                _open_owners(idx, key) & families for key, _ in one_edit_variants(typed, idx.ref_lengths)):
            return True
    return False


# A name's start shared by more customers than this is a common phrase, not one company's name.
MAX_KIN = 8


def _kin_by_name(customers: dict[int, CustomerRecord], payers: PayerIndex) -> dict[int, tuple[int, ...]]:
    """customer id -> the customers whose name is its name (two words or more, legal form aside) followed by more
    words: 'Acme Foods Canada Inc.' and 'Acme Foods of Ohio LLC' for 'Acme Foods LLC'. Groups name their
    subsidiaries and branches so, and parents pay their invoices; master data often records no parent. The
    longest name a customer's starts with is its parent's (two words or more, so that 'Pacific' is nobody's)."""
    kin: dict[int, list[int]] = defaultdict(list)
    for c in customers.values():
        words = name_key(c.name).split()
        for n in range(len(words) - 1, 1, -1):
            parents = [a for a in payers.by_name.get(" ".join(words[:n]), ()) if a != c.id]
            if parents:
                for a in parents:
                    kin[a].append(c.id)
                break
    return {a: tuple(ids) for a, ids in kin.items() if len(ids) <= MAX_KIN}


def _open_owners(idx: MatchIndex, key: str) -> set[int]:
    """The customers with an open invoice whose number reads as `key`."""
    return {idx.invoices[i].customer_id for i in _ids(idx.by_ref.get(key)) if idx.open.get(i, ZERO) > 0}


def _families(idx: MatchIndex, customer_ids) -> set[int]:
    """These customers and their subsidiaries (whose invoices a parent pays), those the master data records and
    those named as its branches: where a remittance names invoices, whose they may be."""
    return {c for cid in customer_ids for c in idx.family_and_kin(cid)}


def _one_customers_open(idx: MatchIndex, left: str, right: str, families: set[int]) -> bool:
    common = _open_owners(idx, left) & _open_owners(idx, right)
    return bool(common and (not families or common & families))


def _by_reference(p, idx, settings, payers, refs) -> list[Proposal]:
    families = _families(idx, payers)
    refs = _joined(_unglued(refs, idx, families), idx, families)
    resolved = []
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
    if proposals:
        proposals = _account_for_every_reference(p, idx, settings, payers, refs, resolved, proposals)
    return proposals


def _account_for_every_reference(p, idx, settings, payers, refs, resolved, proposals) -> list[Proposal]:
    """No partial postings: when the remittance names a document the proposal does not settle, the payment is
    either wholly explained (the remainder is exactly one of the payer's invoices, its number close to what was
    written: see _rescue), or it goes to a clerk with the invoices found and the reason."""
    best = proposals[0]
    chosen = {a.invoice_id for a in best.allocations}
    if len(refs) == len(resolved) and all(c[0][1] in chosen for _, c, _ in resolved):
        return proposals  # the common case: every reference named is one of the invoices settled
    numbers = [a.invoice_number for a in best.allocations]
    found = {id(r): c for r, c, _ in resolved}
    families = _families(idx, payers) | {best.customer_id}
    unresolved = [r for r in refs if not any(iid in chosen for _, iid, _ in found.get(id(r), ()))
                  and _tracked(r, numbers, lambda key: bool(_open_owners(idx, key) & families))]
    if not unresolved:
        return proposals
    rescued = _rescue(p, idx, payers, unresolved, resolved, best)
    if rescued is not None:
        again = _propose_by_reference(p, idx, settings, payers, rescued)
        if again and not again[0].on_account and {a.invoice_id for a in again[0].allocations} > chosen:
            return again
    names = ", ".join(r.raw for r in unresolved)
    return [_proposal(best.customer_id, best.allocations, best.on_account,
                      (*best.evidence, ev.against("a reference in the remittance is unexplained")),
                      f"{best.explanation}; {names} in the remittance matches no open invoice: not posted in part")]


def _proposal(customer_id, allocations, on_account, evidence, explanation) -> Proposal:
    """A proposal whose confidence is computed from its evidence, in one place (evidence.confidence)."""
    evidence = tuple(evidence)
    return Proposal(customer_id, tuple(allocations), on_account, ev.confidence(evidence), explanation, evidence)


def _rescue(p, idx, payers, unresolved, resolved, best) -> list | None:
    """The resolved references plus, for each unresolved one, the single live invoice of the payer's family
    whose open balance (or balance less its discount) is what the unresolved reference leaves to explain and
    whose number is close to it. None when any one has no such invoice or more than one."""
    chosen = {a.invoice_id for a in best.allocations}
    customers = {idx.invoices[i].customer_id for i in chosen}
    family = _families(idx, payers or customers)
    if not family or len(family) > 50:
        return None
    kept = [r for r in resolved if r[1][0][1] in chosen]
    if any(r.line is None for r in unresolved):
        if len(unresolved) > 1:
            return None  # two unread numbers in a text: the remainder does not say which is which
        # What the invoices found take when settled in full (less a discount they carry), not what this
        # proposal happened to apply: the remainder is the rest of the payment.
        settled = sum((idx.open[a.invoice_id] - a.discount for a in best.allocations), ZERO)
        targets = [p.amount - settled]
    else:
        targets = [r.line.amount_paid if r.line.amount_paid else None for r in unresolved]
        if None in targets:
            if len(unresolved) > 1:
                return None
            targets = [p.amount - sum((a.applied for a in best.allocations), ZERO)]
    taken = set(chosen)
    for ref, target in zip(unresolved, targets, strict=True):
        if target is None or target <= 0:
            return None
        hits = set()
        for cid in family:
            exact, discounted = idx.settled_by(cid, p.currency, target)
            for iid in chain(exact, discounted):
                number = idx.invoices[iid].number
                key = reference_key(number)
                if iid not in taken and any(close_numbers(k, key) or k == _serial_key(number) for k in ref.keys):
                    hits.add(iid)
        if len(hits) != 1:
            return None
        [iid] = hits
        taken.add(iid)
        kept.append((ref, [((2, True, ev.REFERENCE["close"], 2), iid, "close")], ref.raw))
    return kept


def _propose_by_reference(p, idx, settings, payers, resolved, aside: str = "") -> list[Proposal]:
    # Numbers that point at someone else's invoice (an RMA or order number in the text) give way to the ones
    # that point at the payer's.
    best_fit = max((c[0][0][0] for _, c, _ in resolved), default=0)
    chosen, notes, found, customer_fit_min, ambiguous = [], [], [], 2, False
    resolved, by_total = _reading_by_total(resolved, best_fit, p, idx)
    if by_total:
        notes.append("of the invoices a number may mean, the reading with which the invoices add up to the amount")
    seen = set()
    for ref, candidates, raw in resolved:
        (fit, iid, kind) = candidates[0]
        if fit[0] < best_fit:
            continue
        if iid in seen:
            continue
        if len(candidates) > 1 and candidates[1][0] == fit and candidates[1][1] not in seen:
            ambiguous = True
        elif kind not in ("exact", "po") and any(c[2] in ("exact", "po") and c[0][0] == fit[0] for c in candidates):
            ambiguous = True  # a typo read that the amount settles, against the number as written
        seen.add(iid)
        chosen.append((iid, ref.line))
        found.append(ev.reference(kind))
        customer_fit_min = min(customer_fit_min, fit[0])
        inv = idx.invoices[iid]
        where = "remittance" if ref.line is not None else "the payment text"
        how = REF_HOW[kind]
        if kind == "exact" and (ref.grouped or raw.upper().replace(" ", "") != inv.number.upper().replace(" ", "")):
            how = (" (digits written in groups)" if ref.grouped else
                   " (prefix, zeros or letters for digits differ)")
        notes.append(f"invoice {inv.number} found in {where}{how}")
    if not chosen:
        return []
    structured = all(line is not None and line.amount_paid for _, line in chosen)
    if structured:
        allocations, on_account, amount_notes, amounts = _allocate_structured(chosen, p, idx, settings)
    else:
        allocations, on_account, amount_notes, amounts = _allocate_total([i for i, _ in chosen], p, idx, settings)
    if not allocations:
        return []
    found += amounts
    customers = {idx.invoices[a.invoice_id].customer_id for a in allocations}
    # An earned discount is the amount the invoice's own terms ask for: as exact as its balance.
    exact_amount = all(e.label in ("equal", "discount earned") for e in amounts)
    exact_refs = all(e.label == "exact" for e in found if e.kind == "reference")
    payer_evidence, payer_note = _payer_agreement(customers, payers, idx, exact_amount, exact_refs)
    found.append(payer_evidence)
    if ambiguous:
        found.append(ev.against("another invoice fits the reference as well"))
        notes.append("another invoice fits that reference equally well")
    if on_account > 0 and (other := _settled_by_excess(on_account, allocations, customers, payers, p, idx)):
        found.append(ev.against("the excess settles another open invoice of the payer"))
        notes.append(f"the {_money(on_account, p.currency)} left over is what invoice {other} has open: "
                     "not posted as an overpayment")
    elif on_account > 0 and len(allocations) > 1:
        found.append(ev.against("a bundle paid beyond the invoices it names"))
        notes.append(f"{_money(on_account, p.currency)} more than the {len(allocations)} invoices named: an invoice "
                     "not read is likelier than an overpayment")
    explanation = "; ".join(notes + ([aside] if aside else []) + amount_notes + [payer_note])
    customer_id = next(iter(customers)) if len(customers) == 1 else None
    return [_proposal(customer_id, allocations, on_account, found, explanation)]


# Readings of a bundle's references tried for one that adds up to the amount, at most.
MAX_READINGS = 64


def _alike(candidates: list[tuple]) -> bool:
    """Whether a reference reads as another invoice as well as its first (what _propose_by_reference calls
    ambiguous): two alike, or a typo read against the number as written, of the same customer fit."""
    (fit, _, kind) = candidates[0]
    return len(candidates) > 1 and (candidates[1][0] == fit or (
        kind not in ("exact", "po") and any(c[2] in ("exact", "po") and c[0][0] == fit[0] for c in candidates)))


def _reading_by_total(resolved: list, best_fit: int, p: PaymentRecord, idx: MatchIndex) -> tuple[list, bool]:
    """A bundle whose references each name one invoice but one or two that read as several of the payer's alike
    (a mistyped number one edit from two of them): when exactly one reading of them all makes the invoices' open
    balances add up to the amount paid, that reading, its other candidates dropped; else `resolved` as it is.
    The total to the cent is what a clerk would check."""
    options, choice = [], False
    for _, candidates, _ in resolved:
        fit = candidates[0][0]
        if fit[0] >= best_fit and _alike(candidates):
            options.append([c for c in candidates if c[0][0] == fit[0]])
            choice = True
        else:
            options.append(candidates[:1] if fit[0] >= best_fit else [None])
    if not choice or len(resolved) < 2:
        return resolved, False
    if prod(map(len, options)) > MAX_READINGS:
        return resolved, False
    open_ = idx.open
    fits = [combo for combo in product(*options)
            if sum((open_[i] for i in {c[1] for c in combo if c is not None}), ZERO) == p.amount]
    if len(fits) != 1:
        return resolved, False
    out = [(ref, [c] + [x for x in candidates if x[0][0] != c[0][0]] if c is not None else candidates, raw)
           for (ref, candidates, raw), c in zip(resolved, fits[0], strict=True)]
    return out, True


def _settled_by_excess(excess: Decimal, allocations, customers: set[int], payers: dict, p: PaymentRecord,
                       idx: MatchIndex) -> str | None:
    """The number of an open invoice of the payer (or the invoices' customer) that the excess settles exactly,
    other than those allocated, or None."""
    taken = {a.invoice_id for a in allocations}
    for cid in {c for owner in (payers or customers) for c in idx.family(owner)}:
        exact, discounted = idx.settled_by(cid, p.currency, excess)
        for iid in chain(exact, discounted):
            if iid not in taken:
                return idx.invoices[iid].number
    return None


def _payer_agreement(customers: set[int], payers: dict, idx: MatchIndex, exact_amount: bool,
                     exact_refs: bool = False) -> tuple[ev.Evidence, str]:
    if not payers:
        # A number in the text from someone we do not know, for another amount: ask.
        return (ev.payer("unknown" if exact_amount else "unknown, amount differs"),
                "payer not identified, the invoices' customer assumed")
    for cid, (score, reason) in sorted(payers.items(), key=lambda kv: -kv[1][0]):
        if customers <= idx.family(cid):
            # The payer's name only had to be close: the invoices' own customer being that payer is the proof.
            proved = ev.payer("name close, proved by its own invoice")
            found = ev.payer(reason, score)
            if found.weight < proved.weight:
                found = ev.piece("payer", f"{reason}, proved by its own invoice", proved.weight)
            if customers == {cid}:
                return found, reason
            parent = ev.payer("parent pays its subsidiary")
            return (ev.piece("payer", f"{reason}; parent pays its subsidiary", min(found.weight, parent.weight)),
                    f"{reason}; parent {idx.customers[cid].name} pays for its subsidiary")
        if customers <= idx.family_and_kin(cid):
            # No parent on file, but the invoices' customer is named as the payer's branch ('... Canada Inc.'):
            # likely its subsidiary, less sure than one the master data records.
            kin = ev.payer("parent pays a subsidiary named after it")
            return (ev.piece("payer", f"{reason}; parent pays a subsidiary named after it",
                             min(ev.payer(reason, score).weight, kin.weight)),
                    f"{reason}; {idx.customers[cid].name} pays for a customer named as its branch")
    if exact_amount and exact_refs:
        return (ev.payer("another customer's invoices, named and settled exactly"),
                "the invoices belong to another customer than the payer's (a payment on its behalf)")
    return ev.payer("another customer's invoices"), "the invoices belong to another customer than the payer's"


# --- no reference: amount only -----------------------------------------------------------------------

def _by_amount(p, idx, settings, payers) -> list[Proposal]:
    # Each customer the payer may be is read alone first; what speaks against its answers depends on what the
    # amount says of the others' invoices (_held_back).
    drafts = {cid: _amount_drafts(p, idx, settings, cid) for cid in payers}
    proposals = []
    for cid, (score, reason) in sorted(payers.items(), key=lambda kv: (-kv[1][0], kv[0])):
        who = [ev.payer(reason, score), *_held_back(cid, payers, drafts)]
        for customer_id, allocations, on_account, how, text in drafts[cid][1]:
            proposals.append(_proposal(customer_id, allocations, on_account, [*who, how], f"{text}; {reason}"))
    return proposals


def _amount_drafts(p, idx, settings, cid) -> tuple[int, list[tuple]]:
    """What the amount alone says of one customer's (and its subsidiaries') invoices: how many of them it settles,
    and the proposals without the payer's pieces (customer id, allocations, on account, the amount's piece, the
    explanation but for the payer's reason): those invoices, else its combinations or its oldest invoices."""
    drafts = []
    exact, discounted = _settled_by_family(idx, cid, p)
    unique = len(exact) + len(discounted) == 1
    for group, label in ((exact, "amount equals its open balance"),
                         (discounted, "amount equals it less the early-payment discount")):
        for i in group:
            alloc, note, s = _settle(idx.invoices[i], idx.open[i], p.amount, p, settings, p.text)
            how = ev.amount(_AMOUNT_ONLY.get(s.label, "only: one invoice less an unearned discount"))
            drafts.append((idx.invoices[i].customer_id, (alloc,), ZERO,
                           how if unique else ev.against("another answer fits as well"),
                           f"no reference; invoice {idx.invoices[i].number}: {label}"
                           + ("" if unique else " (so do others: ambiguous)") + f"; {note}"))
    if exact or discounted:
        return len(exact) + len(discounted), drafts
    # Only now the family's live invoices in due order: most amount-only payments settle one invoice
    # exactly, found above by dictionary, and never need them.
    family = sorted(idx.family(cid))
    lives = [idx.customer_live(c, p.currency) for c in family]
    # Only the first candidates count (see _subset_sum): stop looking once there are more than that.
    below = idx.live_below(family, p.currency, p.amount, MAX_BUNDLE_CANDIDATES + 1)
    # Among many open invoices some combination of four or more adds up to almost any amount by chance;
    # only a small combination from a short list is evidence.
    small_list = len(below) <= 25
    combos, complete = _subset_sum(below, p.amount, idx, settings.max_bundle_size,
                                   MAX_BUNDLE_NODES if small_list else MAX_BUNDLE_NODES_LONG_LIST)
    for combo in combos:
        unique = complete and len(combos) == 1 and len(combo) <= 3 and small_list
        allocations = tuple(Allocation(i, idx.invoices[i].number, idx.open[i]) for i in combo)
        numbers = ", ".join(idx.invoices[i].number for i in combo)
        how = ev.amount("only: one combination of up to three") if unique else ev.against(
            "another answer fits as well")
        drafts.append((cid, allocations, ZERO, how, f"no reference; {len(combo)} open invoices ({numbers}) add up to "
                       "the amount" + ("" if unique else " (other combinations may too)")))
    if not combos and any(lives):
        # Nothing explains the amount: offer the oldest invoices, paid in order, for a clerk to judge.
        allocations, remaining = [], p.amount
        for i in islice(chain.from_iterable(lives), settings.max_bundle_size):
            if remaining <= 0:
                break
            paid = min(idx.open[i], remaining)
            allocations.append(Allocation(i, idx.invoices[i].number, paid))
            remaining -= paid
        drafts.append((cid, allocations, remaining, ev.against("nothing explains the amount"),
                       "no reference and no invoice matches the amount; oldest invoices first"))
    return 0, drafts


def _settled_by_family(idx: MatchIndex, cid: int, p: PaymentRecord) -> tuple[list[int], list[int]]:
    """The live invoices of the customer's family that the amount settles: exactly, and less a discount."""
    exact, discounted = [], []
    for c in sorted(idx.family(cid)):
        e, d = idx.settled_by(c, p.currency, p.amount)
        exact += e
        discounted += d
    return exact, discounted


def _held_back(cid: int, payers: dict, drafts: dict) -> list[ev.Evidence]:
    """What speaks against every amount-only answer of customer `cid`, from what the amount says of the other
    customers the payer may be (`drafts`: how many of each one's invoices the amount settles, and its answers).

    - Several customers answer to the name alike (namesakes whose legal form the bank did not send): an amount that
      settles invoices of two of them says nothing of which paid. Only when it settles invoices of one of them alone
      does it name that one (a namesake would have to pay an amount that settles none of its own invoices but the
      other's): the milder piece then goes on that one's answers, and never on the others' (their combinations,
      their oldest invoices), against which it speaks.
    - A namesake the legal form written set back gives way to the customer whose form it is, when the amount settles
      that one's invoices too (_legal_form_rivalled).
    - A customer gives way to another identified as surely or more, of whose invoices the amount settles several:
      those are capped by one another, so they do not hold this one back through the margin, yet each is at least
      as likely as this one's answer. (One invoice of the surer customer competes through the margin.)
    """
    score = payers[cid][0]
    top = max(s for s, _ in payers.values())
    tied = [c for c, (s, _) in payers.items() if s == top]
    if score == top and len(tied) > 1:
        if drafts[cid][0] and not any(drafts[c][0] for c in tied if c != cid):
            return [ev.against("two customers answer to the name; the amount settles only one's invoices")]
        return [ev.against("two customers answer to the name")]
    if _legal_form_rivalled(cid, payers, drafts):
        return [ev.against("the customer whose legal form was written has invoices of the amount too")]
    if any(drafts[c][0] > 1 for c, (s, _) in payers.items() if c != cid and s >= score):
        return [ev.against("a customer named as surely has several invoices of this amount")]
    return []


def _legal_form_rivalled(cid: int, payers: dict, drafts: dict) -> bool:
    """Whether `cid` is a namesake the legal form written set back (payer.STRENGTH 'another legal form') while a
    customer whose form it is has invoices the amount settles too: the amount does not tell them apart any more than
    it tells two customers named alike, and the name written is the other's."""
    if not payers[cid][1].startswith(LEGAL_FORM_REASON):
        return False
    others = {c: s for c, (s, reason) in payers.items() if not reason.startswith(LEGAL_FORM_REASON)}
    if not others:
        return False
    top = max(others.values())
    return any(drafts[c][0] for c, s in others.items() if s == top)


# How the amount settled the one invoice it equals (see _settle) -> the amount-only evidence.
_AMOUNT_ONLY = {"equal": "only: one open invoice has it",
                "discount earned": "only: one invoice less its earned discount"}


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
    # (k, remaining) of the loops below the current one; their k are the indexes of the values taken so far
    frames: list[tuple[int, int]] = []
    deepest = max_size - 1  # values taken before the one that completes a subset, at most
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
            if suffix[k] >= remaining:
                if value == remaining:
                    if frames:
                        found.append([*(ids[f[0]] for f in frames), ids[k]])
                        if len(found) > 2:
                            return found, True
                elif len(frames) < deepest:
                    frames.append((k, remaining))
                    k, remaining = k + 1, remaining - value
                    continue
                k += 1
                continue
            # The rest cannot reach what is left: this loop ends here.
        if not frames:
            return found, True
        k, remaining = frames.pop()
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
            proposals = [_proposal(inv.customer_id, (Allocation(inv.id, inv.number, p.amount),), ZERO,
                                   (ev.payer("unknown"),
                                    ev.amount("only: payer unknown, one invoice in the ledger has it")),
                                   f"payer unknown; {inv.number} is the only open invoice of this amount")]
    payer_id = max(payers, key=lambda c: (payers[c][0], -c)) if payers else None
    if not proposals:
        why = "payer not identified and nothing in the remittance matches an open invoice" if not payers else (
            f"payer {idx.customers[payer_id].name} ({payers[payer_id][1]}) has no open invoice that explains it")
        return Decision(p.id, UNMATCHED, (), payer_id, why)
    proposals.sort(key=lambda pr: (-pr.confidence, -ev.rank(pr.evidence), pr.explanation))
    proposals = proposals[:5]
    best = proposals[0]
    runner_up = proposals[1].confidence if len(proposals) > 1 else 0.0
    customer_id = best.customer_id or payer_id
    # The runner-up's margin is the last piece of evidence: within 0.05 of the best, a clerk decides.
    extras = {"margin": round(best.confidence - runner_up, 6)}
    if best.confidence >= settings.auto_apply_threshold and best.confidence - runner_up >= 0.05 and best.allocations:
        idx.consume(best)
        return Decision(p.id, AUTO, (best,), customer_id, best.explanation, extras)
    why = best.explanation if len(proposals) == 1 else f"{len(proposals)} possible answers; best: {best.explanation}"
    return Decision(p.id, SUGGEST, tuple(proposals), customer_id, why, extras)


def match_payments(payments: Iterable[PaymentRecord], index: MatchIndex,
                   settings: MatchSettings | None = None) -> list[Decision]:
    settings = settings or MatchSettings()
    return [_decide(p, index, settings) for p in payments]
