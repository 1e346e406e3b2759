"""How payers and banks really write names and invoice references (catalogue with sources: NOISE.md).

Every function takes the seeded `random.Random` and returns the noised text with the kind applied, so the
truth can say which noise each payment carries.
"""

from __future__ import annotations

import random
import re

LEGAL_VARIANTS = {
    "Inc.": ["INC", "Inc", "Incorporated", ""],
    "LLC": ["L.L.C.", "LLC.", ""],
    "Ltd.": ["LTD", "Limited", "Ltd", ""],
    "Corp.": ["Corporation", "CORP", ""],
    "Co.": ["Company", "CO", ""],
    "GmbH": ["Gesellschaft mbH", "GMBH", ""],
    "B.V.": ["BV", ""],
    "S.A.": ["SA", ""],
    "PLC": ["Plc", "P.L.C.", ""],
}
OWNERS = ["R HOLLOWAY", "J MARTINEZ", "K OKAFOR", "S LINDQVIST", "M BRENNAN", "T NAKAMURA", "A FERREIRA"]
_LEGAL = re.compile(r"\s(" + "|".join(re.escape(k) for k in LEGAL_VARIANTS) + r")$")


# --- names --------------------------------------------------------------------------------------

def truncate(name: str, width: int) -> str:
    """Banks cut the name field at a fixed width, mid-word (35 in SWIFT/BAI2 name lines, 140 in camt Nm)."""
    return name[:width]


def legal_variant(rng: random.Random, name: str) -> str:
    m = _LEGAL.search(name)
    if not m:
        return name
    return (name[:m.start()] + " " + rng.choice(LEGAL_VARIANTS[m.group(1)])).rstrip()


def merge_words(rng: random.Random, name: str) -> str:
    words = name.split()
    if len(words) < 3:
        return name
    i = rng.randrange(len(words) - 2)  # never glue the legal suffix: a keyer merges words of the name itself
    return " ".join(words[:i] + [words[i] + words[i + 1]] + words[i + 2:])


def double_word(rng: random.Random, name: str) -> str:
    words = name.split()
    i = rng.randrange(len(words))
    return " ".join(words[:i + 1] + [words[i]] + words[i + 1:])


def trade_as(rng: random.Random, name: str) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(OWNERS)} T/A {name}"
    return f"DBA {name}"


def name_variant(rng: random.Random, name: str, *, heavy: bool = False) -> tuple[str, list[str]]:
    """The payer's name as the bank file shows it, and the noise kinds applied. Most payments only get
    upper-cased (what most banks do); `heavy` forces at least one real variant."""
    kinds: list[str] = []
    out = name
    roll = rng.random()
    if heavy or roll < 0.25:
        kind = rng.choice(["legal", "merge", "double", "trade_as", "legal", "punct"])
        if kind == "legal":
            new = legal_variant(rng, out)
        elif kind == "merge":
            new = merge_words(rng, out)
        elif kind == "double":
            new = double_word(rng, out)
        elif kind == "trade_as":
            new = trade_as(rng, out)
        else:
            new = out.replace("&", "AND").replace(".", "").replace(",", "")
        if new != out:
            kinds.append(kind)
            out = new
    if rng.random() < 0.7:
        out = out.upper()
        kinds.append("upper")
    return out, kinds


# --- references ---------------------------------------------------------------------------------

_SPLIT_NUMBER = re.compile(r"^(?P<prefix>[A-Z]+-?(?:\d{4}-)?)?(?P<digits>\d+)$")


def split_number(number: str) -> tuple[str, str]:
    m = _SPLIT_NUMBER.match(number)
    if not m:
        return "", number
    return m.group("prefix") or "", m.group("digits")


REF_NOISE_KINDS = ("grouped", "space_after_prefix", "letter_o", "slipped_digit", "no_prefix", "no_leading_zeros",
                   "lower")


def noisy_reference(rng: random.Random, number: str, kind: str | None = None) -> tuple[str, str]:
    """The invoice number as a payer types it, and the kind of noise applied."""
    prefix, digits = split_number(number)
    kinds = [k for k in REF_NOISE_KINDS if prefix or k not in ("space_after_prefix", "no_prefix", "lower")]
    if not digits.startswith("0") or len(digits.lstrip("0")) == len(digits):
        kinds = [k for k in kinds if k != "no_leading_zeros"]
    if "0" not in (prefix + digits):
        kinds = [k for k in kinds if k != "letter_o"]
    kind = kind if kind in kinds else rng.choice(kinds)
    if kind == "grouped":
        groups = [digits[max(0, i - 3):i] for i in range(len(digits), 0, -3)][::-1]
        return f"{prefix.rstrip('-')} {' '.join(groups)}".strip(), kind
    if kind == "space_after_prefix":
        return f"{prefix.rstrip('-').replace('-', ' ')} {digits}", kind
    if kind == "letter_o":
        whole = prefix + digits
        i = whole.index("0")
        return whole[:i] + "O" + whole[i + 1:], kind
    if kind == "slipped_digit":
        if len(digits) >= 2:
            i = rng.randrange(len(digits) - 1)
            if digits[i] != digits[i + 1]:
                return prefix + digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:], kind
        i = len(digits) - 1
        return prefix + digits[:i] + str((int(digits[i]) + 1) % 10), kind
    if kind == "no_prefix":
        return digits, kind
    if kind == "no_leading_zeros":
        return prefix + digits.lstrip("0"), kind
    return (prefix + digits).lower(), kind


def buried(rng: random.Random, refs: list[str], day: str) -> str:
    """References inside free text with other numbers: order numbers, RMA numbers, dates."""
    noise = [f"ORDER {rng.randint(100000, 999999)}", f"RMA {rng.randint(10000, 99999)}",
             f"PO {rng.randint(10**9, 10**10 - 1)}", f"DATED {day}", f"ACCT {rng.randint(1000, 9999)}",
             f"CUST NO {rng.randint(10000, 99999)}"]
    picked = rng.sample(noise, 2)
    parts = [picked[0], "PAYMENT FOR " + " ".join(refs), picked[1]]
    return " ".join(parts)


def lead_in(rng: random.Random, refs: list[str]) -> str:
    """How a clean remittance line introduces the numbers."""
    joined = rng.choice([" ", ", ", " / "]).join(refs)
    return rng.choice(["{}", "INV {}", "INVOICE {}", "Invoice {}", "PAYMENT {}", "RE {}", "INV NO {}", "INVOICES {}"]
                      ).format(joined)
