"""How sure the matcher is of a proposal, computed in one place from the evidence it records.

Every proposal carries its evidence: who paid (and how we know), each reference (how it was read), how the
amount agrees, and what speaks against it (another answer as good, a reference nothing explains). Each piece has
a weight in log-odds; the raw score is the logistic of their sum:

    raw = 1 / (1 + exp(-(PRIOR + payer + reference + amount + against)))

Within one kind the weakest piece counts, not the sum: a bundle is as sure as its least sure line, and three
invoices found by their numbers are not three times the evidence that the payer is who we think. Pieces that
must keep a payment from being posted whatever else agrees (two answers alike, a reference left unexplained)
also cap the result.

The raw score then goes through `calibration.calibrated()`: a monotone table fitted on labelled decisions (see
bench/calibrate.py), so that the tenant's `auto_apply_threshold` reads as "probability the posting is right".
Until a table is fitted it is the identity.

The weights were set so that the raw score sorts the labelled generator's cases as the tuned products did
(bench/cashapp.py, seed 1): the threshold 0.90 is log-odds 2.2. Change one, run the bench, then refit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .calibration import calibrated

PRIOR = 0.0

# How each reference was read. A typo is found because the payer or the amount agrees, so it adds little.
REFERENCE = {
    "exact": 2.0,  # the number, read as a person would (prefix, zeros, O for 0, digits in groups)
    "po": 1.6,  # the invoice's PO number
    "transposed": 0.4,
    "digit added": 0.4,
    "digit dropped": 0.4,
    "close": 0.4,  # the remainder of a bundle is exactly one invoice whose number is close to what was written
    # The serial of a numbered series written alone ('276253' of INV-2026-276253), read only among the payer's
    # invoices the amount settles: the same number may be another year's or series'.
    "serial": 0.4,
    # With dense numbering one digit wrong is some other invoice more often than not: found only where the payer or
    # the amount agrees, it adds nothing by itself (a payer known by name and the amount equal post, just).
    "wrong digit": 0.0,
}

# How the amount agrees. "ref:" when the invoices were named; "only:" when the amount alone found them.
AMOUNT = {
    "equal": 1.2,
    "discount earned": 1.1,
    "written off": 0.8,
    "unearned discount": 0.4,
    "overpaid": 0.4,
    # More than twice what the invoices named take: more likely another invoice than an overpayment. An exact
    # number with the payer known still posts (just); a PO number or a typo read does not.
    "overpaid, more than the invoices": -1.0,
    "short, reason given": 0.3,
    "short, no reason": 0.1,
    # Invoices named without amounts, paid short: which one was shorted is a guess. Just at the default threshold
    # with a payer known by name, so a stricter tenant asks.
    "short, shortfall put on the last due": -1.0,
    "only: one open invoice has it": 1.2,
    "only: one invoice less its earned discount": 1.1,
    "only: one invoice less an unearned discount": 0.4,
    "only: one combination of up to three": 1.05,
    "only: payer unknown, one invoice in the ledger has it": 0.5,
}

# Fixed payer pieces; an identified payer's weight comes from its strength (see payer_weight).
PAYER = {
    "unknown": -0.5,
    "unknown, amount differs": -1.2,  # a number in the text from someone we do not know, for another amount
    "another customer's invoices": -1.5,
    # Someone else pays invoices it names by their own numbers, for exactly what they owe: a parent, a sister
    # company or a factor paying on the customer's behalf. The numbers and the amount identify the invoices as
    # surely as for a payer we do not know at all, so it weighs no more against than "unknown".
    "another customer's invoices, named and settled exactly": -0.5,
    "name close, proved by its own invoice": 1.0,
    "parent pays its subsidiary": 1.1,
    # No parent on file: the invoices' customer is named as the payer's branch ('Acme Foods Canada Inc.' paid by
    # 'Acme Foods LLC'): as sure as a name only close, which its own invoice proves.
    "parent pays a subsidiary named after it": 1.0,
}

# What speaks against: (weight, cap). The cap holds whatever else agrees.
AGAINST = {
    "another invoice fits the reference as well": (-4.0, 0.6),
    "another answer fits as well": (-4.0, 0.6),
    "two customers answer to the name": (-4.0, 0.6),
    # ... and the amount settles invoices (not a combination) of only one of them: the amount
    # names the customer as surely as it names the invoice of a payer known outright (a namesake would have to pay
    # an amount that settles none of its own invoices but exactly one of the other's). On that customer's answers
    # only: for the others' it is the full piece above. Kept as a piece so that the explanation says why.
    "two customers answer to the name; the amount settles only one's invoices": (0.0, 1.0),
    # An answer of a customer identified less surely than one with several invoices of the amount: those are held
    # back by one another (capped above), which must not leave this one, no likelier than each of them, to post.
    "a customer named as surely has several invoices of this amount": (-4.0, 0.6),
    "a reference in the remittance is unexplained": (-4.0, 0.6),
    # Left "on account", the excess is exactly what another of the payer's invoices has open: more likely an
    # invoice the remittance names in a way not read than an overpayment. A clerk sees both.
    "the excess settles another open invoice of the payer": (-4.0, 0.6),
    # Several invoices named and more paid than they take: a remittance cut short (an MT940 :86: field is six
    # lines) or a number not read, far more often than a customer overpaying a bundle.
    "a bundle paid beyond the invoices it names": (-4.0, 0.6),
    "nothing explains the amount": (-1.6, 0.4),  # oldest invoices first: about 0.4 for a payer known by name
    # The name written is, legal form and all, another customer's (Clearwater Beverages LLC written, this is
    # Clearwater Beverages PLC), and the amount settles invoices of that customer too: the amount cannot say it was
    # this one's, as when two customers answer to the name alike.
    "the customer whose legal form was written has invoices of the amount too": (-4.0, 0.6),
}

# Read with a typo, a number is some other invoice more often than not (dense numbering): the amount agreeing is what
# makes it the one meant. Where the amount does not settle the invoices read and the shortfall is only put on the
# last one due, nothing does: such numbers were another invoice than the one paid (all of some 60 on the diagnosis
# seeds of the independent benchmark). Added to the weakest pieces.
TYPO_READS = frozenset(("transposed", "digit added", "digit dropped", "close", "wrong digit"))
SHORTFALL_GUESSED = "short, shortfall put on the last due"
TYPO_AND_SHORTFALL_GUESSED = -3.0

# The payer's strength as identified (cashapp.matching.payer: 0.99 account on file, 0.97 name or alias, 0.94-0.965
# a name as banks write it - D/B/A, cut at a field width, words merged or doubled, found in the free text - and
# 0.80-0.94 spelt differently) to log-odds, linear between these points. From 0.94 a payer known by name and one
# open invoice of the amount post (1.0 + 1.2 >= 2.2), as the clean name does; a one-word name found in the text
# (0.92) or a name spelt only roughly alike does not.
_PAYER_POINTS = ((0.0, -1.0), (0.80, 0.0), (0.94, 1.0), (0.97, 1.2), (0.99, 1.3), (1.0, 1.35))


def payer_weight(strength: float) -> float:
    points = _PAYER_POINTS
    if strength <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if strength <= x1:
            return y0 + (y1 - y0) * (strength - x0) / (x1 - x0)
    return points[-1][1]


@dataclass(frozen=True, slots=True, eq=False)
class Evidence:
    """One piece: its kind (payer, reference, amount, against), what it is (a key of that kind's table, or the
    payer's reason), and its weight in log-odds. Pieces are interned (the tables' are built once, others through
    piece()), so identity is equality: hashing one for the confidence cache costs nothing."""

    kind: str
    label: str
    weight: float
    cap: float = 1.0


@lru_cache(maxsize=4096)
def piece(kind: str, label: str, weight: float, cap: float = 1.0) -> Evidence:
    """An interned piece outside the tables (a payer's own reason, say)."""
    return Evidence(kind, label, weight, cap)


# Built once, looked up per proposal (a run makes a million of them).
_REFERENCE = {k: Evidence("reference", k, w) for k, w in REFERENCE.items()}
_AMOUNT = {k: Evidence("amount", k, w) for k, w in AMOUNT.items()}
_AGAINST = {k: Evidence("against", k, w, cap) for k, (w, cap) in AGAINST.items()}
_PAYER = {k: Evidence("payer", k, w) for k, w in PAYER.items()}


@lru_cache(maxsize=4096)
def payer(label: str, strength: float | None = None) -> Evidence:
    """An identified payer (`strength` given, `label` its reason) or one of PAYER's fixed pieces."""
    return piece("payer", label, payer_weight(strength)) if strength is not None else _PAYER[label]


def reference(kind: str) -> Evidence:
    return _REFERENCE[kind]


def amount(kind: str) -> Evidence:
    return _AMOUNT[kind]


def against(label: str) -> Evidence:
    return _AGAINST[label]


def log_odds(evidence) -> float:
    """PRIOR plus, per kind, the weakest piece (`against` pieces all count), plus TYPO_AND_SHORTFALL_GUESSED where a
    number read with a typo meets an amount that settles nothing read."""
    weakest: dict[str, float] = {}
    total = PRIOR
    typo = guessed = False
    for e in evidence:
        if e.kind == "against":
            total += e.weight
            continue
        if e.kind not in weakest or e.weight < weakest[e.kind]:
            weakest[e.kind] = e.weight
        if e.kind == "reference" and e.label in TYPO_READS:
            typo = True
        elif e.kind == "amount" and e.label == SHORTFALL_GUESSED:
            guessed = True
    if typo and guessed:
        total += TYPO_AND_SHORTFALL_GUESSED
    return total + sum(weakest.values())


def raw_score(evidence) -> float:
    """The score the calibration table reads: the logistic of the log-odds, held under the caps. The caps come
    before the table, so that the table is fitted on (and maps) the very score a capped decision has."""
    value = 1.0 / (1.0 + math.exp(-log_odds(evidence)))
    for e in evidence:
        value = min(value, e.cap)
    return value


def rank(evidence) -> float:
    """The raw score, cached: what orders proposals the calibration reports alike. A fitted table is flat where it
    pooled decisions, and its flat stretches must not reorder what a clerk is shown."""
    return _rank(tuple(evidence))


@lru_cache(maxsize=16384)
def _rank(evidence: tuple[Evidence, ...]) -> float:
    return raw_score(evidence)


def confidence(evidence) -> float:
    """The reported confidence: the raw score (caps included) through the fitted calibration, held under the caps
    again: the table may say a capped score was right more often than the cap, but a cap is what keeps a payment
    from being posted whatever else agrees."""
    return _confidence(tuple(evidence))


@lru_cache(maxsize=16384)
def _confidence(evidence: tuple[Evidence, ...]) -> float:
    # Cached: a few hundred combinations of pieces cover a run of a hundred thousand payments.
    value = calibrated(raw_score(evidence))
    for e in evidence:
        value = min(value, e.cap)
    return round(value, 6)
