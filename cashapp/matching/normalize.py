"""Text normalisation for matching: payer names and document references.

Everything here is a pure function of a string, so the index can key a million invoices by the same
forms it later looks up from a bank's free text.
"""

from __future__ import annotations

import re
import unicodedata

LEGAL_SUFFIXES = frozenset("""
    INC INCORPORATED LLC LLP LP LTD LIMITED CORP CORPORATION CO COMPANY PLC GMBH AG KG SA SAS SARL SPA SRL
    BV NV OY AB AS PTY PTE THE AND PLLC LLLP PVT LTDA CIE KFT SRO
""".split())
# Letters that OCR and typing turn digits into (and back): read inside a token that is mostly digits.
_OCR = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "Z": "2", "S": "5", "B": "8",
                      "G": "6"})
_OCR_LETTERS = frozenset("OQDILZSBG|")
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9\-/_.#]*[A-Z0-9]|[0-9]")
# Amounts in free text are numbers too, but not document numbers: taken out of the text before it is cut into
# tokens, because a token stops at a comma ('1.234,56' would leave '1.234', '1,234,567.89' would leave '234').
# Decimals with a point or a comma, with or without thousands separators (point, comma, apostrophe).
_AMOUNT = re.compile(r"(?<![0-9A-Z.,'])(?:\d{1,3}(?:[.,']\d{3})+|\d+)[.,]\d{2}(?![0-9A-Z]|[.,']?\d)")
# Dates: ISO, and day, month and year with points or slashes (one- or two-digit day and month).
_NOT_A_REFERENCE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
# Dates with the month's name ('Nov 1, 2026', '1 November 2026', '1-NOV-26'): their year and day are numbers too,
# and with dense numbering 2026 is some invoice.
_MONTH = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)[A-Z]*\.?"
_NAMED_DATE = re.compile(rf"(?<![0-9A-Z])(?:{_MONTH}[ -]\d{{1,2}}(?:ST|ND|RD|TH)?,?[ -]\d{{2,4}}"
                         rf"|\d{{1,2}}(?:ST|ND|RD|TH)?[ -]{_MONTH}[ ,-]*\d{{2,4}})(?![0-9A-Z])")
# 'B.V.', 'S.A.', 'N.V.': letters with points are one word (a legal suffix), not several letters.
_DOTTED = re.compile(r"(?<![A-Z])([A-Z])\.(?=[A-Z](?:\.|\b))")


def name_tokens(name: str) -> list[str]:
    """Upper-case words without punctuation or legal suffixes: 'Acme Industrial Supply, Inc.' -> ACME INDUSTRIAL
    SUPPLY."""
    upper = name.upper()
    if not upper.isascii():
        # Banks often send names without accents: 'MÜLLER' and 'MULLER' are the same payer.
        upper = "".join(ch for ch in unicodedata.normalize("NFKD", upper) if not unicodedata.combining(ch))
    upper = _DOTTED.sub(r"\1", upper)
    words = _NON_ALNUM.sub(" ", upper.replace("&", " AND ")).split()
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
    upper = reference.upper()
    text = _NON_ALNUM.sub("", upper)
    # Strip a leading alphabetic prefix (INV, PO, RE...) before reading letters as digits: the prefix's
    # letters are letters, the confusions happen inside the number.
    i = 0
    while i < len(text) and text[i].isalpha():
        i += 1
    if i == len(text):
        return ""
    # Where a separator marks the end of the prefix ('INV-S512'), letters after it that OCR confuses with digits
    # are the number's first digits, not more prefix.
    head = upper.lstrip(_LETTERS)
    if head[:1] in ("-", "/", " ", "#", ".") and len(head) > 1:
        after = head[1:]
        j = 0
        while j < len(after) and after[j] in _OCR_LETTERS:
            j += 1
        if 0 < j < len(after) and after[j].isdigit():
            i -= j
    core = text[i:].translate(_OCR)
    digits = "".join(ch for ch in core if ch.isdigit())
    # A token that stays mostly letters after the OCR reading is a word, not a mangled number.
    if not digits or len(digits) < len(core) - 2:
        return ""
    return digits.lstrip("0") or "0"


def reference_tokens(text: str) -> list[str]:
    """Candidate document numbers in free text: tokens holding at least three digits (after OCR reading),
    plus prefix+number pairs split by a space ('INV 4512')."""
    return [key for key, _ in reference_tokens_as_written(text)]


def reference_tokens_as_written(text: str) -> list[tuple[str, str]]:
    """reference_tokens() with each key's token as it was written ('INV-0004512'), for explanations."""
    upper = _NAMED_DATE.sub(" ", _AMOUNT.sub(" ", text.upper()))
    found = []
    for tok in _TOKEN.findall(upper):
        if _NOT_A_REFERENCE.fullmatch(tok):
            continue
        key = reference_key(tok)
        # Short numbers count only with a prefix ('INV-60'); a bare '60' is a quantity or a day.
        if len(key) >= 3 or (key and tok[:2].isalpha()):
            found.append((key, tok))
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
