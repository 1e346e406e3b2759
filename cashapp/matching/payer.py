"""Who paid: the customer behind a payment, from its account, its payer name, or its free text.

Banks rarely send the name as the customer master has it. They cut it at the width of a field (SWIFT 35,
camt 70 or 140, ACH 16 or 22), drop the space between two words, double a word, write a legal suffix their
own way, put a trade name after 'DBA', or send no name at all and bury it in the remittance text. Each of
those is read here with dictionary lookups, so a payment costs the same against 100 customers as against
100,000:

- `by_name`: the name key (see normalize.name_key) of every name and alias, and of each side of 'X DBA Y';
- `by_spaceless`: the same keys without spaces ('PINECOASTAL GROCERS');
- `by_lead`: every name's leading words, for a name the bank cut short ('HARBOR LIGHT WHOLESALE DISTRIB');
- `by_token`: distinctive words, for a misspelt name.

A name inside free text is found by looking up every run of words of the text in `by_name`.

`identify_payer` returns {customer id: (strength 0..1, reason)}; each kind of evidence has its own strength
(STRENGTH), an account or an exact name being the surest.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from difflib import SequenceMatcher

from .normalize import LEGAL_SUFFIXES, account_key, legal_form, name_key, name_letters
from .types import Alias, CustomerRecord, PaymentRecord

STRENGTH = {
    "account": 0.99,
    "name": 0.97,  # the name or an alias, legal suffix, punctuation, '&' and THE aside
    "trade name": 0.965,  # one side of 'X DBA Y'
    "doubled word": 0.96,
    "cut at a limit": 0.955,  # cut at the width of a bank's field (35, 40, 70, 140 ...), mid-word or not
    "cut short": 0.95,  # a shorter start of the name, 10 letters or more, at no known width
    "spaceless": 0.948,  # the space between two words dropped
    "followed": 0.945,  # the customer's name followed by other words (a department, a city)
    "free text": 0.94,  # the customer's name, two words or more, found in the payment's text
    "free text, one word": 0.92,  # a single distinctive word: enough with a reference, not with an amount only
    # Two customers named alike but for the legal form (Clearwater Beverages PLC and Clearwater Beverages LLC),
    # and the bank wrote the other's: still a candidate, no longer a tie with the one whose form it is.
    "another legal form": 0.90,
}
# Widths at which banks cut a name: ACH company (16) and individual (22) names, SWIFT lines (35), BAI2 and
# some portals (40), German MT940 ?32 + ?33 (2 x 27), camt Nm (70, 140).
BANK_LIMITS = frozenset((16, 22, 35, 40, 54, 70, 140))
# The free text read for names: remittance text can list hundreds of invoices; a name comes early.
MAX_TEXT_WORDS = 300
# A word in more customers' names than this says nothing about who paid (GLOBAL, SERVICES).
MAX_TOKEN_CUSTOMERS = 25
# Words of payment texts: a customer named 'Payment Services' is not found in 'PAYMENT FOR SERVICES'.
COMMON_WORDS = frozenset("""
    PAYMENT PAYMENTS PAY PAID PAYABLE PAYABLES ACCOUNT ACCOUNTS DEPARTMENT DEPT INVOICE INVOICES INV REF REFERENCE
    ORDER ORDERS PO NO NR NUMBER DATE AMOUNT TOTAL TRANSFER WIRE ACH CREDIT DEBIT BANK CHECK CHEQUE FROM FOR OF
    TO BY ON IN AT OR WITH THANK THANKS YOU YOUR OUR REMITTANCE ADVICE SETTLEMENT FUNDS ENTRY DESCRIPTION TRADE
    SEC CCD PPD CTX WEB TEL CUSTOMER CLIENT SERVICE SERVICES GROUP GLOBAL INTERNATIONAL HOLDINGS HOLDING TRADING
    SUPPLY SUPPLIES SOLUTIONS SYSTEMS INDUSTRIES ENTERPRISES PARTNERS MANAGEMENT CONSULTING GENERAL NATIONAL
    AMERICAN UNITED FIRST NEW NORTH SOUTH EAST WEST CENTRAL USD EUR GBP CHF CAD ID ORIG NAME ORIGINATOR TRACE
    INCOMING OUTGOING RETURN FEE FEES MONTHLY ANNUAL SALES PURCHASE
""".split())
_DBA = re.compile(r"(?<![A-Z0-9])(?:D\s?/\s?B\s?/\s?A|D\.\s?B\.\s?A\.?|DBA|T\s?/\s?A)(?![A-Z0-9])")
# Starts of the words name keys leave out inside a name ('... MARINE SERVICES AN' cut from '... AND DENTAL').
_CONNECTOR_STARTS = frozenset(("A", "AN", "AND", "T", "TH", "THE"))
# Beginnings of legal suffixes a name may end with when cut mid-word ('INCORPORATE', 'CORPORATIO', 'LIMI').
# One letter ('L') counts only at a field's width.
_SUFFIX_STARTS = frozenset(s[:n] for s in LEGAL_SUFFIXES - {"THE", "AND"} for n in range(1, len(s)))


class PayerIndex:
    """The customers' names, accounts and distinctive words, keyed for lookups (see the module docstring)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.forms: dict[int, frozenset[str]] = {}  # cid -> legal form of its name (see normalize.legal_form)
        self.by_account: dict[str, int] = {}
        self.by_name: dict[str, set[int]] = defaultdict(set)
        self.name_keys: dict[int, list[tuple[str, Alias | None]]] = defaultdict(list)  # cid -> (key, alias)
        self.by_spaceless: dict[str, set[int]] = defaultdict(set)
        self.by_lead: dict[str, set[int]] = defaultdict(set)
        self.by_token: dict[str, set[int]] = defaultdict(set)
        self.longest_name = 1  # words in the longest name key: how far a run of words in a text may reach
        # The name keys, and the spaceless ones, in order: the names that go on from a start (see starting_with).
        self._sorted_keys: list[str] = []
        self._sorted_spaceless: list[str] = []
        # Every letter and digit of each name, in order, no spaces, nothing left out (name_letters): a name merged
        # and cut in one ('BLUE RIDGE MEDICAL SUPPLYA' of '... SUPPLY AND LOGISTICS') is a start of one of these.
        self.by_letters: dict[str, set[int]] = defaultdict(set)
        self._sorted_letters: list[str] = []

    def add(self, c: CustomerRecord) -> None:
        self.names[c.id] = c.name
        self.forms[c.id] = legal_form(c.name)
        for raw, alias in [(c.name, None), *((a.name, a) for a in c.aliases)]:
            for key in dict.fromkeys(_name_variants(raw)):
                self.by_name[key].add(c.id)
                self.name_keys[c.id].append((key, alias))
                words = key.split()
                self.longest_name = max(self.longest_name, min(len(words), 12))
                if len(words) > 1:
                    self.by_spaceless["".join(words)].add(c.id)
                for n in range(1, len(words)):
                    self.by_lead[" ".join(words[:n])].add(c.id)
                for token in set(words):
                    self.by_token[token].add(c.id)
            self.by_letters[name_letters(raw)].add(c.id)
        for account in c.bank_accounts:
            self.by_account[account_key(account)] = c.id

    def finish(self) -> None:
        """Drops the words too common to point at anyone; call once every customer is added."""
        self.by_token = {t: ids for t, ids in self.by_token.items() if len(ids) <= MAX_TOKEN_CUSTOMERS}
        # A short start shared by many names ('PACIFIC') points at nobody in particular either.
        self.by_lead = {k: ids for k, ids in self.by_lead.items() if len(ids) <= MAX_TOKEN_CUSTOMERS}
        self._sorted_keys, self._sorted_spaceless = sorted(self.by_name), sorted(self.by_spaceless)
        self._sorted_letters = sorted(self.by_letters)

    def starting_with(self, start: str, form: str = "key") -> set[int]:
        """The customers a name of whom goes on from `start`, cut inside a word or after one; none when more than
        MAX_TOKEN_CUSTOMERS do (a start that common points at nobody). `form` is how `start` is written: "key"
        (name_key), "spaceless" (the key without spaces) or "letters" (name_letters). `by_lead` drops common
        leads, so a name cut inside the word after one ('NORTHSTAR INDUSTRIA', where many names begin
        'NORTHSTAR') is found here."""
        keys, table = {"key": (self._sorted_keys, self.by_name),
                       "spaceless": (self._sorted_spaceless, self.by_spaceless),
                       "letters": (self._sorted_letters, self.by_letters)}[form]
        found: set[int] = set()
        i = bisect_left(keys, start)
        while i < len(keys) and keys[i].startswith(start):
            found |= table[keys[i]]
            if len(found) > MAX_TOKEN_CUSTOMERS:
                return set()
            i += 1
        return found


def _name_variants(raw: str) -> list[str]:
    """The keys a name stands for: the whole name, and each side of 'X DBA Y' (or 'DBA Y' alone)."""
    parts = _DBA.split(raw.upper())
    if len(parts) == 1:
        whole = name_key(raw)
        return [whole] if whole else []
    keys = [name_key(" DBA ".join(parts)), *(name_key(part) for part in parts)]  # D/B/A, T/A written DBA
    return [k for k in keys if k]


class _Found(dict):
    """customer id -> (strength, reason), keeping the strongest evidence for each."""

    def note(self, cid: int, score: float, reason: str) -> None:
        if cid not in self or self[cid][0] < score:
            self[cid] = (score, reason)


def identify_payer(p: PaymentRecord, idx: PayerIndex) -> dict[int, tuple[float, str]]:
    found = _identify(p, idx)
    if len(found) > 1 and p.payer_name:
        _prefer_legal_form(found, legal_form(p.payer_name), idx)
    return found


def _prefer_legal_form(found: _Found, written: frozenset[str], idx: PayerIndex) -> None:
    """Among customers the name found equally, those whose legal form is the one written keep their strength;
    the others drop to 'another legal form'. Nothing changes when the bank wrote no form, or one none of them
    has (a form the bank abbreviates its own way proves nothing)."""
    if not written:
        return
    top = max(score for score, _ in found.values())
    if top >= STRENGTH["account"]:
        return  # an account on file said who paid
    tied = [cid for cid, (score, _) in found.items() if score == top]
    keep = [cid for cid in tied if idx.forms.get(cid) == written]
    if not keep or len(keep) == len(tied):
        return
    for cid in tied:
        if cid not in keep:
            found[cid] = (STRENGTH["another legal form"],
                          f"{LEGAL_FORM_REASON} ({', '.join(sorted(written))} written)")


def _identify(p: PaymentRecord, idx: PayerIndex) -> _Found:
    found = _Found()
    account = account_key(p.payer_account) if p.payer_account else ""
    if account and account in idx.by_account:
        found.note(idx.by_account[account], STRENGTH["account"], "remitting account on file")
    key = name_key(p.payer_name) if p.payer_name else ""
    hits = idx.by_name.get(key) if key else None
    if hits:
        # The common case, the name as the customer master has it: one lookup, no other reading needed.
        for cid in hits:
            alias = next((a for k, a in idx.name_keys[cid] if k == key), None)
            found.note(cid, STRENGTH["name"], _alias_reason(alias) if alias else "payer name matches")
        return found
    for cid, (score, reason) in (_by_name(p.payer_name, key, idx) if key else {}).items():
        found.note(cid, score, reason)
    if not found and p.text:
        # No name, or one that is nobody's: BAI2 and MT940 write the payer's name in the text, as banks write it
        # in a name field (cut at 35, words merged, T/A): each stretch of the text between payment words is read
        # as a name would be.
        for cid, (score, reason) in _in_text_stretches(p.text, idx).items():
            found.note(cid, score, reason)
    if not found:
        # Or the customer's name inside a longer run of words.
        for cid, (score, reason) in _in_text((key, name_key(p.text) if p.text else ""), idx).items():
            found.note(cid, score, reason)
    return found


# Words of payment texts that a name does not contain: they end a stretch of the text that may be a name.
_TEXT_STOP = frozenset("""
    PAYMENT PAYMENTS PAY PAID INV INVOICE INVOICES NO NR NUM NUMBER REF REFERENCE RE REMIT REMITTANCE ORDER PO
    ACCT ACCOUNT THANK THANKS YOU ACH CREDIT DEBIT CCD CTX PPD WEB TEL IAT DATED DATE FOR LESS DISC DISCOUNT
    SUPPLIER CUST CUSTOMER ID TRN TRACE ORIG ORIGINATOR NAME FROM BY TRANSFER WIRE RMA QTY TOTAL AMOUNT EREF
    KREF MREF SVWZ SEPA GIRO OVERSCHRIJVING BETALING RECHNUNG ZAHLUNG NOTPROVIDED ORG DBNM OB BNF ORDP REMI BENM
""".split())
_TEXT_WORD = re.compile(r"[^\s:;,]+")
_NOT_LETTER = re.compile(r"[^A-Z]")
_JOINERS = frozenset("&-/+")
# A name comes early in a text; stretches read at most.
MAX_STRETCHES = 4


def _text_stretches(text: str) -> list[str]:
    """The stretches of `text` that may be a name, as written: runs of two words or more between payment words
    and tokens with digits ('ACH CREDIT CCD Blue Ridge Regional Logistics and H INV 4192469' -> 'Blue Ridge
    Regional Logistics and H')."""
    stretches, start, end, words = [], None, 0, 0
    for m in _TEXT_WORD.finditer(text[:1000]):
        token = m.group()
        if token in _JOINERS:
            continue  # 'RAMIREZ & SONS': inside a name
        bare = _NOT_LETTER.sub("", token.upper())
        if not bare or any(ch.isdigit() for ch in token) or bare in _TEXT_STOP:
            if start is not None and words >= 2:
                stretches.append(text[start:end])
            start, words = None, 0
            if len(stretches) >= MAX_STRETCHES:
                break
            continue
        if start is None:
            start = m.start()
        end, words = m.end(), words + 1
    if start is not None and words >= 2 and len(stretches) < MAX_STRETCHES:
        stretches.append(text[start:end])
    return stretches


def _in_text_stretches(text: str, idx: PayerIndex) -> _Found:
    """Customers whose name a stretch of the text is. A customer's exact name in any stretch first (two customers
    named in two stretches are both candidates, alike); else the first stretch that reads as a name the way a
    payer name field is read (without the fuzzy spelling: free text has too many words for that). No surer than
    a name found in the text; the legal form written in the stretch tells namesakes apart."""
    cap = STRENGTH["free text"]
    stretches = [(raw, key) for raw in _text_stretches(text)
                 if len(key := name_key(raw)) >= 5 and _distinctive(key)]
    found = _Found()
    for raw, key in stretches:
        here = _Found()
        for cid in idx.by_name.get(key, ()):
            here.note(cid, cap, "customer's name found in the payment text")
        _told_apart(here, raw, idx)
        for cid, value in here.items():
            found.note(cid, *value)
    if found:
        return found
    for raw, key in stretches:
        for cid, (score, reason) in _by_name(raw, key, idx, fuzzy=False).items():
            found.note(cid, min(score, cap), _TEXT_REASON.get(reason, f"{reason}, in the payment text"))
        if found:
            _told_apart(found, raw, idx)
            return found
    return found


_TEXT_REASON = {"payer name is the customer's followed by other words": "customer's name found in the payment text"}


def _told_apart(found: _Found, raw: str, idx: PayerIndex) -> None:
    if len(found) > 1:
        _prefer_legal_form(found, legal_form(raw), idx)


def _by_name(raw: str, whole: str, idx: PayerIndex, fuzzy: bool = True) -> dict[int, tuple[float, str]]:
    """The payer name `raw` (whose key is `whole`, not itself a customer's) read in every other way (`fuzzy`:
    spelt differently too)."""
    found = _Found()
    variants = _lookup_variants(raw, whole)
    if not variants:
        return found
    # 1. The name as a whole, in one of its spellings: a dictionary hit each.
    for words, kind in variants:
        if kind == DOUBLED_THEN_CUT:
            continue  # a cut name: step 3's
        key = " ".join(words)
        for cid in idx.by_name.get(key, ()):
            alias = next((a for k, a in idx.name_keys[cid] if k == key), None)
            if kind == "name":
                found.note(cid, STRENGTH["name"], _alias_reason(alias) if alias else "payer name matches")
            else:
                found.note(cid, STRENGTH[kind], _VARIANT_REASON[kind])
        for cid in idx.by_spaceless.get("".join(words), ()):  # only names of two words or more are there
            found.note(cid, min(STRENGTH[kind], STRENGTH["spaceless"]), "payer name written without a space")
    # Merged where the key leaves a word out ('GROUP ANDBUILDING MATERIALS'): every letter as the customer's.
    for cid in idx.by_letters.get(name_letters(raw), ()):
        found.note(cid, STRENGTH["spaceless"], "payer name written without a space")
    if found:
        return found
    at_limit = _at_bank_limit(raw)
    for words, kind in variants:
        if kind == DOUBLED_THEN_CUT:
            if found:
                break
            kind = "doubled word"
        cap = STRENGTH[kind] if kind != "name" else 1.0
        # 2. Longer than the customer's: the name followed by a cut legal suffix or by other words. The longest
        # start that is someone's name counts ('ACME SUPPLY WEST' before 'ACME SUPPLY').
        for n in range(len(words) - 1, 0, -1):
            start = " ".join(words[:n])
            hits = idx.by_name.get(start) or (idx.by_spaceless.get("".join(words[:n])) if n > 1 else None)
            if not hits or len(start) < 8:
                continue
            rest = words[n:]
            if len(rest) == 1 and rest[0] in _SUFFIX_STARTS and at_limit:
                strength, reason = STRENGTH["cut at a limit"], _at_limit_reason(at_limit)
            elif len(rest) == 1 and rest[0] in _SUFFIX_STARTS and len(rest[0]) > 1:
                strength, reason = STRENGTH["cut short"], "payer name cut short by the bank"
            else:
                strength, reason = STRENGTH["followed"], "payer name is the customer's followed by other words"
            if start not in idx.by_name:
                strength, reason = min(strength, STRENGTH["spaceless"]), reason + ", written without a space"
            for cid in hits:
                found.note(cid, min(cap, strength), reason)
            break
        # 3. Shorter than the customer's: cut by the bank, after a whole word or inside one.
        key = " ".join(words)
        if at_limit:
            strength, reason = STRENGTH["cut at a limit"], _at_limit_reason(at_limit)
        elif len(key) >= 10:
            strength, reason = STRENGTH["cut short"], "payer name cut short by the bank"
        else:
            continue
        strength = min(cap, strength)
        for cid in idx.by_lead.get(key, ()):
            found.note(cid, strength, reason)
        if len(words) > 1:  # cut inside its last word: the customers whose name goes on from the words before
            # ('... SERVICES AN': cut inside AND or THE, which name keys leave out, so any name going on counts)
            connector = words[-1] in _CONNECTOR_STARTS
            for cid in idx.by_lead.get(" ".join(words[:-1]), ()):
                if connector or any(k.startswith(key) and len(k) > len(key) for k, _ in idx.name_keys[cid]):
                    found.note(cid, strength, reason)
        if not found and len(key) >= MIN_CUT_START:
            # The words before the cut too common to be a lead of their own ('NORTHSTAR' of 'NORTHSTAR INDUSTRIA'),
            # or merged as well ('HARBORREGIONAL HOSPITALITY HARD'): the names that go on from what was written.
            for cid in idx.starting_with(key):
                found.note(cid, strength, reason)
            if not found and len(words) > 1:
                for cid in idx.starting_with("".join(words), "spaceless"):
                    found.note(cid, min(strength, STRENGTH["spaceless"]), reason + ", written without a space")
    if not found and at_limit and len(letters := name_letters(raw)) >= MIN_LETTERS_CUT:
        # Merged and cut where the key leaves a word out ('BLUE RIDGE REGIONAL MEDICAL SUPPLYA' of '... SUPPLY AND
        # LOGISTICS', 'LOGISTICSAND RESTAU'): the names whose every letter, in order, goes on from what was written.
        for cid in idx.starting_with(letters, "letters"):
            found.note(cid, STRENGTH["spaceless"], _at_limit_reason(at_limit) + ", written without a space")
    if found or not fuzzy:
        return found
    # 4. Spelt differently: the customers sharing a distinctive word, compared letter by letter.
    key = " ".join(variants[0][0])
    candidates: set[int] = set()
    for token in variants[0][0]:
        candidates |= idx.by_token.get(token, set())
    for cid in sorted(candidates)[:60]:
        for known, _alias in idx.name_keys[cid]:
            ratio = SequenceMatcher(None, key, known, autojunk=False).ratio()
            if ratio >= 0.86:
                found.note(cid, 0.80 + (ratio - 0.86), f"payer name spelt differently ({ratio:.0%} alike)")
    return found


# The reason of a namesake _prefer_legal_form set back (the matcher reads it: engine._legal_form_rivalled).
LEGAL_FORM_REASON = "payer name matches but not its legal form"
MIN_CUT_START = 10  # letters and spaces a cut name must keep to be looked up by its start alone
MIN_LETTERS_CUT = 20  # letters a name cut at a bank's width must keep to be looked up by its letters alone

_VARIANT_REASON = {"trade name": "payer's trade name (D/B/A) matches", "doubled word": "payer name with a word doubled"}


def _lookup_variants(raw: str, whole: str) -> list[tuple[list[str], str]]:
    """The payer name's words as written, then its other readings: (words, kind)."""
    out = [(whole.split(), "name")]
    if _DBA.search(raw.upper()):
        canonical, *parts = _name_variants(raw)
        if canonical != whole:
            out.append((canonical.split(), "name"))
        out += [(key.split(), "trade name") for key in parts if key != whole]
    for words, kind in list(out):
        single = _undoubled(words)
        if len(single) < len(words):
            out.append((single, "doubled word" if kind == "name" else kind))
    last = out[-1][0]
    if _at_bank_limit(raw) and len(last) > 2 and last[-1] != last[-2] and last[-2].startswith(last[-1]):
        # Doubled, then cut at the bank's width ('SUMMIT HARRINGTON INDUSTRIAL INDUST'): read last, and only when
        # the name as written went on to nobody (it may be cut inside a word of its own: 'ACME INDUSTRIAL IND').
        out.append((last[:-1], DOUBLED_THEN_CUT))
    return out


DOUBLED_THEN_CUT = "doubled word, cut"


def _undoubled(words: list[str]) -> list[str]:
    """The words with each doubled run of up to three words taken out once ('SUMMIT FOODS FOODS', 'BLUE RIDGE O NEILL
    O NEILL')."""
    out = list(words)
    for n in (3, 2, 1):
        i = 0
        while i + 2 * n <= len(out):
            if out[i:i + n] == out[i + n:i + 2 * n]:
                del out[i + n:i + 2 * n]
            else:
                i += 1
    return out


def _at_limit_reason(limit: int) -> str:
    return f"payer name cut at the bank's {limit}-character limit"


def _at_bank_limit(raw: str) -> int:
    """The field width the name was cut at, or 0: its length is one (or one more than it, when the cut fell
    just after a word and the trailing space was trimmed)."""
    n = len(raw.rstrip())
    for limit in (n, n + 1):
        if limit in BANK_LIMITS:
            return limit
    return 0


def _in_text(keys: tuple[str, ...], idx: PayerIndex) -> dict[int, tuple[float, str]]:
    """Customers whose name (or alias) is written as a phrase in the payer name or the text (`keys`: their
    name_key forms, searched apart so that no phrase spans both). The longest name found wins over one it
    contains ('ACME SUPPLY WEST' over 'ACME SUPPLY'); two customers found apart are both returned, alike, so that
    neither is taken."""
    found = _Found()
    matches: list[tuple[str, int, Alias | None]] = []
    by_name, longest = idx.by_name, idx.longest_name
    for text in keys:
        # Every run of up to `longest` words is looked up as a name: a dictionary access each, so that a name
        # made only of words many customers share ('PACIFIC STEEL') is found as surely as a rare one.
        words = text.split()[:MAX_TEXT_WORDS]
        for i in range(len(words)):
            for n in range(1, min(longest, len(words) - i) + 1):
                key = " ".join(words[i:i + n])
                for cid in by_name.get(key, ()):
                    if _distinctive(key):
                        alias = next((a for k, a in idx.name_keys[cid] if k == key), None)
                        matches.append((key, cid, alias))
    if not matches:
        return found
    matches.sort(key=lambda m: -len(m[0]))
    kept: list[str] = []
    for key, cid, alias in matches:
        if any(key != longer and f" {key} " in f" {longer} " for longer in kept):
            continue  # part of a longer name found in the same text
        kept.append(key)
        kind = "free text" if " " in key else "free text, one word"
        what = f"alias {alias.name!r}" if alias else "name"
        found.note(cid, STRENGTH[kind], f"customer's {what} found in the payment text")
    return found


def _distinctive(key: str) -> bool:
    """A name that can be told from ordinary payment words: one uncommon word at least, and a single word
    only when it is five letters or more."""
    words = key.split()
    if all(w in COMMON_WORDS or w.isdigit() for w in words):
        return False
    return len(words) > 1 or len(key) >= 5


def _alias_reason(alias: Alias) -> str:
    if alias.source == "learned" and alias.learned_on:
        return f"payer alias learned {alias.learned_on.day} {alias.learned_on:%b}"
    return f"payer alias {alias.name!r}"
