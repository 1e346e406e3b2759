"""Text normalisation for matching: payer names and document references.

Everything here is a pure function of a string, so the index can key a million invoices by the same
forms it later looks up from a bank's free text.
"""

from __future__ import annotations

import re

LEGAL_SUFFIXES = frozenset("""
    INC INCORPORATED LLC LLP LP LTD LIMITED CORP CORPORATION CO COMPANY PLC GMBH AG KG SA SAS SARL SPA SRL
    BV NV OY AB AS PTY PTE THE AND
""".split())
# Letters that OCR and typing turn digits into (and back): read inside a token that is mostly digits.
_OCR = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "Z": "2", "S": "5", "B": "8",
                      "G": "6"})
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9\-/_.#]*[A-Z0-9]|[0-9]")
# Amounts and dates in free text are numbers too, but not document numbers.
_NOT_A_REFERENCE = re.compile(r"\d{1,3}([.,]\d{3})*[.,]\d{2}|\d{4}-\d{2}-\d{2}|\d{2}[./]\d{2}[./]\d{2,4}")


def name_tokens(name: str) -> list[str]:
    """Upper-case words without punctuation or legal suffixes: 'Acme Industrial Supply, Inc.' -> ACME INDUSTRIAL
    SUPPLY."""
    words = _NON_ALNUM.sub(" ", name.upper().replace("&", " AND ")).split()
    kept = [w for w in words if w not in LEGAL_SUFFIXES]
    return kept or words


def name_key(name: str) -> str:
    return " ".join(name_tokens(name))


def account_key(account: str) -> str:
    return _NON_ALNUM.sub("", account.upper())


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def reference_key(reference: str) -> str:
    """The digits a reference comes down to, OCR confusions read as digits and leading zeros dropped:
    'INV-004512', 'inv 4512', 'INV-OO4512' and '4512' all give '4512'. Empty when there is no number."""
    # The common shape, 'INV-0004512', read with string methods (a million of them at index time).
    rest = reference.lstrip(_LETTERS)
    if rest[:1] in ("-", "/", " "):
        rest = rest[1:]
    if rest.isdigit() and rest.isascii():
        return rest.lstrip("0") or "0"
    text = _NON_ALNUM.sub("", reference.upper())
    # Strip a leading alphabetic prefix (INV, PO, RE...) before reading letters as digits: the prefix's
    # letters are letters, the confusions happen inside the number.
    i = 0
    while i < len(text) and text[i].isalpha():
        i += 1
    if i == len(text):
        return ""
    core = text[i:].translate(_OCR)
    digits = "".join(ch for ch in core if ch.isdigit())
    # A token that stays mostly letters after the OCR reading is a word, not a mangled number.
    if not digits or len(digits) < len(core) - 2:
        return ""
    return digits.lstrip("0") or "0"


def reference_tokens(text: str) -> list[str]:
    """Candidate document numbers in free text: tokens holding at least three digits (after OCR reading),
    plus prefix+number pairs split by a space ('INV 4512')."""
    upper = text.upper()
    tokens = _TOKEN.findall(upper)
    found = []
    for tok in tokens:
        if _NOT_A_REFERENCE.fullmatch(tok):
            continue
        key = reference_key(tok)
        # Short numbers count only with a prefix ('INV-60'); a bare '60' is a quantity or a day.
        if len(key) >= 3 or (key and tok[:2].isalpha()):
            found.append(key)
    return found


def one_edit_variants(key: str) -> list[tuple[str, str]]:
    """Keys one typing error away: adjacent digits transposed, or one digit wrong. (variant, kind)."""
    out = []
    for i in range(len(key) - 1):
        if key[i] != key[i + 1]:
            out.append((key[:i] + key[i + 1] + key[i] + key[i + 2:], "transposed"))
    for i, ch in enumerate(key):
        for d in "0123456789":
            if d != ch:
                out.append((key[:i] + d + key[i + 1:], "wrong digit"))
    return out
