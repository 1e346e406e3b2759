"""Text normalisation for matching: payer names and document references.

Everything here is a pure function of a string, so the index can key a million invoices by the same
forms it later looks up from a bank's free text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from functools import lru_cache

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
# A word may follow glued on ('LESS 159.91QTY SHORT': a wrapped line joined without its space).
_AMOUNT = re.compile(r"(?<![0-9A-Z.,'])(?:\d{1,3}(?:[.,']\d{3})+|\d+)[.,]\d{2}(?![0-9]|[.,']?\d)")
# Dates: ISO, and day, month and year with points or slashes (one- or two-digit day and month).
_NOT_A_REFERENCE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")
# Dates with the month's name ('Nov 1, 2026', '1 November 2026', '1-NOV-26'): their year and day are numbers too,
# and with dense numbering 2026 is some invoice.
_MONTH = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)[A-Z]*\.?"
_NAMED_DATE = re.compile(rf"(?<![0-9A-Z])(?:{_MONTH}[ -]\d{{1,2}}(?:ST|ND|RD|TH)?,?[ -]\d{{2,4}}"
                         rf"|\d{{1,2}}(?:ST|ND|RD|TH)?[ -]{_MONTH}[ ,-]*\d{{2,4}})(?![0-9A-Z])")
# Numbers a label says are not a document of the ledger: the payer's account or customer number, an order, a
# return authorisation, a trace ('ACCT 7052 PAYMENT FOR SI020794 CUST NO 18049'). Read as references, short ones
# name some other invoice, and the payment looks as if it named an invoice it does not pay. Only bare digits after
# the label go: 'ORDER SI001234' is still read.
_LABELLED_NUMBER = re.compile(r"(?<![0-9A-Z])(?:ACCT|ACCOUNT|A/C|CUST(?:OMER)?|ORDER|ORD|RMA|TRACE)"
                              r"(?:\s*(?:NO|NR|NUM|NUMBER|ID)\b)?\.?\s*[:#]?\s*[0-9]+(?![0-9A-Z])")
# A purchase order's label as written ('P.O. 123', 'PO# 123', 'PO NO: 123'), made 'PO 123' so that the number
# keeps its label (engine._po_labelled reads it: a PO number is one number, not invoice numbers glued).
_PO_LABEL = re.compile(r"(?<![0-9A-Z])P\.?O\.?\s*(?:N[OR]\.?)?\s*[#:]?\s*(?=[0-9])")
# 'B.V.', 'S.A.', 'N.V.': letters with points are one word (a legal suffix), not several letters.
_DOTTED = re.compile(r"(?<![A-Z])([A-Z])\.(?=[A-Z](?:\.|\b))")


def name_tokens(name: str) -> list[str]:
    """Upper-case words without punctuation or legal suffixes: 'Acme Industrial Supply, Inc.' -> ACME INDUSTRIAL
    SUPPLY."""
    words = _name_words(name)
    kept = [w for w in words if w not in LEGAL_SUFFIXES]
    return kept or words


def _name_words(name: str) -> list[str]:
    upper = name.upper()
    if not upper.isascii():
        # Banks often send names without accents: 'MÜLLER' and 'MULLER' are the same payer.
        upper = "".join(ch for ch in unicodedata.normalize("NFKD", upper) if not unicodedata.combining(ch))
    upper = _DOTTED.sub(r"\1", upper)
    return _NON_ALNUM.sub(" ", upper.replace("&", " AND ")).split()


def name_letters(name: str) -> str:
    """Every letter and digit of a name, upper case, in order, with nothing left out ('&' read AND): the form in
    which a name merged and cut at once ('LOGISTICSAND RESTAU') is still a start of the customer's."""
    return "".join(_name_words(name))


# One spelling per legal form: 'Limited' and 'Ltd.' are the same company, 'Ltd' and 'LLC' are not.
_LEGAL_FORM = {"INCORPORATED": "INC", "LIMITED": "LTD", "CORPORATION": "CORP", "COMPANY": "CO"}


def legal_form(name: str) -> frozenset[str]:
    """The legal suffixes a name carries, one spelling each: 'Acme Foods, Limited' -> {LTD}; none -> empty.
    name_key leaves them out (banks write them every which way), so two companies that differ only in them
    share a key; the form as written can still tell them apart."""
    words = _name_words(name)
    if len(words) < 2:
        return frozenset()
    return frozenset(_LEGAL_FORM.get(w, w) for w in words[1:] if w in LEGAL_SUFFIXES and w not in ("THE", "AND"))


@lru_cache(maxsize=1 << 16)
def name_key(name: str) -> str:
    # Cached: every payment's payer name and text stretches come through here, and payers repeat their names.
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
    # Digits in groups after the prefix ('INV-2026-001571', 'SI0 004 716 3'): what the reading below gives, without it.
    compact = rest.replace("-", "").replace("/", "").replace(" ", "").replace(".", "")
    if compact.isdigit() and compact.isascii():
        return compact.lstrip("0") or "0"
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
    core = _after_digit_prefix(text[i:])
    core = core.translate(_OCR)
    digits = "".join(ch for ch in core if ch.isdigit())
    # A token that stays mostly letters after the OCR reading is a word, not a mangled number.
    if not digits or len(digits) < len(core) - 2:
        return ""
    return digits.lstrip("0") or "0"


def _after_digit_prefix(core: str) -> str:
    """A letter no OCR turns into a digit ends a prefix that holds digits ('E2E1966', 'E2E-4512'): the number is
    what follows it. Read as one number, 'E2E1966' became 21966, some invoice of a ledger numbered SI0xxxxx.
    (Letters after the number, 'INV-4512A', stay a suffix dropped as before.)"""
    if core.isdigit():
        return core
    last_digit = max((k for k, ch in enumerate(core) if ch.isdigit()), default=-1)
    last = max((k for k, ch in enumerate(core[:last_digit]) if ch.isalpha() and ch not in _OCR_LETTERS), default=-1)
    return core[last + 1:] if last >= 0 else core


def reference_tokens(text: str) -> list[str]:
    """Candidate document numbers in free text: tokens holding at least three digits (after OCR reading),
    plus prefix+number pairs split by a space ('INV 4512')."""
    return [key for key, _ in reference_tokens_as_written(text)]


def reference_tokens_as_written(text: str) -> list[tuple[str, str]]:
    """reference_tokens() with each key's token as it was written ('INV-0004512'), for explanations."""
    return [(m.keys[0], m.written) for m in reference_mentions(text)]


class Mention:
    """One place in a text that names a document: how it was written, and the keys it may mean, most likely
    first. Digits written in groups ('INV 845 58') may be one number or a number and a quantity: both readings
    are kept, and the ledger (payer, amount) decides."""

    __slots__ = ("keys", "written", "grouped")

    def __init__(self, keys: tuple[str, ...], written: str, grouped: bool = False):
        self.keys, self.written, self.grouped = keys, written, grouped

    def __repr__(self) -> str:
        return f"Mention({self.keys!r}, {self.written!r})"


# Between two digit groups of one number: one space, or a dash with a space ('26- 940 67').
_GROUP_GAP = frozenset({" ", "- ", " -", " - "})
_MAX_GROUP = 4  # a following group this long at most ('845 58', '004 716 3'); longer is another number
_MAX_PREFIX = 5  # 'INV', 'SI', 'RE': a short word before a number written apart from it
_GAP_THEN_DIGIT = re.compile(r"[0-9A-Z](?: | ?- )[0-9]")  # where digit groups may follow a prefix or a group


def reference_mentions(text: str) -> list[Mention]:
    """The documents a free text names, each a Mention. Amounts, dates and labelled numbers (an account, a customer
    number, an order) are taken out first, so that joining digit groups cannot glue them to a reference."""
    upper = _NAMED_DATE.sub(" ", _AMOUNT.sub(" ", text.upper()))
    upper = _PO_LABEL.sub("PO ", _LABELLED_NUMBER.sub(" ", upper))
    if not _GAP_THEN_DIGIT.search(upper):
        # Most texts ('Remittance: INV-0004512'): no digits written apart from what precedes them, one reading per
        # token, as cheap as the plain tokenizer.
        found = []
        tokens = _TOKEN.findall(upper)
        for tok in _unglue_prefixed(tokens) if _DIGIT_THEN_PREFIX.search(upper) else tokens:
            if _NOT_A_REFERENCE.fullmatch(tok):
                continue
            key = _token_key(tok)
            if key and (len(key) >= 3 or tok[:2].isalpha()):
                found.append(Mention((key,), tok))
        return found
    if _DIGIT_THEN_PREFIX.search(upper):
        tokens = [(t.start() + at, t.start() + at + len(piece), piece) for t in _TOKEN.finditer(upper)
                  for at, piece in _glued_pieces(t.group()) if not _NOT_A_REFERENCE.fullmatch(piece)]
    else:
        tokens = [(t.start(), t.end(), t.group()) for t in _TOKEN.finditer(upper)
                  if not _NOT_A_REFERENCE.fullmatch(t.group())]
    found, k, n = [], 0, len(tokens)
    while k < n:
        start, stop, head = tokens[k]
        end = k + 1
        if end < n and upper[stop:tokens[end][0]] in _GROUP_GAP and tokens[end][2].isdigit() and (
                head[-1].isdigit() or (head.isalpha() and len(head) <= _MAX_PREFIX)):
            group, end = _digit_groups(tokens, k, upper)
        else:
            group = None
        if group is None:  # the common case: one token, one reading
            key = _token_key(head)
            if key and (len(key) >= 3 or head[:2].isalpha()):
                found.append(Mention((key,), head))
            k = end
            continue
        # A last group of one or two digits followed by a word is more likely a quantity ('4512 2 cases').
        last_stop = tokens[end - 1][1]
        quantity = len(group[-1]) <= 2 and upper[last_stop:last_stop + 2].strip()[:1].isalpha()
        mention = _mention(group, upper[start:last_stop], quantity)
        if mention:
            found.append(mention)
        k = end
    return found


_DIGIT_THEN_PREFIX = re.compile(r"[0-9][A-Z]{2}")  # where a prefixed number may follow another without a space


def _glued_pieces(tok: str) -> list[tuple[int, str]]:
    """A token that is two prefixed numbers without a space between them ('INV-2026-023542INV-2026-032763': a text
    wrapped at the field's width and joined again), cut where its prefix comes again after a digit: (offset,
    piece) each. Read whole, only the second number's digits counted (the prefix's last letter ends a prefix)."""
    k = 0
    while k < len(tok) and tok[k].isalpha():
        k += 1
    if k < 2 or k == len(tok):
        return [(0, tok)]
    prefix, out, start = tok[:k], [], 0
    at = tok.find(prefix, k)
    while at > 0:
        if tok[at - 1].isdigit():
            out.append((start, tok[start:at]))
            start = at
        at = tok.find(prefix, at + k)
    out.append((start, tok[start:]))
    return out


def _unglue_prefixed(tokens: list[str]) -> list[str]:
    return [piece for tok in tokens for _, piece in _glued_pieces(tok)]


_token_key = lru_cache(maxsize=4096)(reference_key)  # words ('PAYMENT', 'INVOICES') repeat in every text


def _digit_groups(tokens, k: int, upper: str) -> tuple[list[str] | None, int]:
    """The token at k and the digit groups written after it ('INV 845 58', '26- 940 67'), and the index after
    them; (None, k + 1) when they are not one number ('QTY 60')."""
    head = tokens[k][2]
    group, end, digits = [head], k + 1, sum(ch.isdigit() for ch in head)
    if digits > _MAX_GROUP:
        # A number already written whole ('4111476 4 127 943'): the groups after it are the next number, not
        # its continuation, which would swallow the start of that number.
        return None, k + 1
    while end < len(tokens):
        start, _, piece = tokens[end]
        if upper[tokens[end - 1][1]:start] not in _GROUP_GAP:
            break
        # After a prefix or a short first group ('INV0 028368') any length; then groups of a few digits.
        if not (piece.isdigit() and (len(piece) <= _MAX_GROUP or digits <= 3) and digits + len(piece) <= 12):
            break
        group.append(piece)
        digits += len(piece)
        end += 1
        if len(piece.lstrip("0")) > _MAX_GROUP:
            # A number written whole after a prefix or a short group ('FOR 4404975', 'INV0 028368'): the groups
            # after it are the next number ('FOR 4404975 4 688 274'), not more of this one. ('INV- 00845 58'
            # goes on: leading zeros are padding, not a number's digits.)
            break
    if len(group) == 1 or (head.isalpha() and len(group) == 2 and len(group[1]) < 3):
        return None, k + 1  # 'QTY 60': a word and a small number, not a reference
    return group, end


def _mention(group: list[str], written: str, quantity: bool = False) -> Mention | None:
    """The readings of a token and the digit groups written after it: all of them joined first, then fewer
    (with a trailing quantity, the reading without it first)."""
    keys = []
    for n in range(len(group), 0, -1):
        tok = "".join(group[:n])
        key = reference_key(tok)
        # Short numbers count only with a prefix ('INV-60'); a bare '60' is a quantity or a day. A part of a
        # grouped number counts from three digits.
        if key and (len(key) >= 3 or (tok[:2].isalpha() and n == len(group))) and key not in keys:
            keys.append(key)
    if quantity and len(keys) > 1:
        keys[0], keys[1] = keys[1], keys[0]
    if not keys:
        return None
    grouped = len(group) > 2 or (len(group) == 2 and not group[0].isalpha())
    return Mention(tuple(keys), written if grouped else group[0] if len(group) == 1 else written, grouped)


def one_edit_variants(key: str, lengths: Container[int] | None = None) -> list[tuple[str, str]]:
    """Keys one typing error away: adjacent digits transposed, one digit wrong, or one digit too many (the
    variants that drop one). A dropped digit has ten times more variants: see one_edit_kind, which the
    matcher uses where the amount has already narrowed the invoices. (variant, kind).

    `lengths`: only the variants of these lengths (those of the keys they will be looked up among), in the same
    order; None for all. With invoice numbers all of one length, most references read from a text (a 10-digit
    order number, a 6-digit customer number) have no variant that can be a key at all."""
    n = len(key)
    out = []
    if lengths is None or n in lengths:
        for i in range(n - 1):
            a, b = key[i], key[i + 1]
            if a != b:
                out.append((key[:i] + b + a + key[i + 2:], "transposed"))
        for i, ch in enumerate(key):
            head, tail = key[:i], key[i + 1:]
            out += [(head + d + tail, "wrong digit") for d in _DIGITS if d != ch]
    if n > 4 and (lengths is None or n - 1 in lengths):
        for i in range(n):
            if i == 0 or key[i] != key[i - 1]:  # dropping either of two equal digits gives one variant
                out.append((key[:i] + key[i + 1:], "digit added"))
    return out


_DIGITS = "0123456789"


def one_edit_kind(written: str, other: str) -> str | None:
    """How the key `other` is one typing error away from the key `written`: 'transposed', 'wrong digit',
    'digit added' (written has one more), 'digit dropped' (written has one fewer); None otherwise."""
    if written == other:
        return None
    n, m = len(written), len(other)
    if n == m:
        diffs = [i for i in range(n) if written[i] != other[i]]
        if len(diffs) == 1:
            return "wrong digit"
        if (len(diffs) == 2 and diffs[1] == diffs[0] + 1 and written[diffs[0]] == other[diffs[1]]
                and written[diffs[1]] == other[diffs[0]]):
            return "transposed"
        return None
    if abs(n - m) != 1 or min(n, m) < 4:
        return None
    longer, shorter = (written, other) if n > m else (other, written)
    i = 0
    while i < len(shorter) and longer[i] == shorter[i]:
        i += 1
    if longer[i + 1:] == shorter[i:]:
        return "digit added" if n > m else "digit dropped"
    return None


def close_numbers(written: str, other: str) -> bool:
    """Whether an unresolved reference may well be this invoice's number: one typing error away, or a long run
    of the same digits (at least five, and all but two of the longer key) with the lengths within two."""
    if one_edit_kind(written, other):
        return True
    if abs(len(written) - len(other)) > 2:
        return False
    need = max(5, max(len(written), len(other)) - 2)
    if min(len(written), len(other)) < need:
        return False
    return any(other[i:i + need] in written for i in range(len(other) - need + 1))
