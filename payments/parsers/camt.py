"""ISO 20022 camt.052 (account report), camt.053 (statement) and camt.054 (debit/credit notification),
message versions .02 to .08 and later: the elements we read kept their names across versions, and where
they moved (party names under Pty from .08, TxDtls/Amt from .03) both places are read.

Own reader on defusedxml's ElementTree rather than `pycamt`: pycamt flattens to dicts without the batch
split, the reversal flag, the element path for errors or the raw XML per entry, and it parses with the
stdlib parser directly. defusedxml refuses DTDs and entity declarations (billion laughs, external
entities) before anything is expanded.

Rules:
- Only booked entries (Sts BOOK) are money; pending or informational entries are skipped with a warning.
- bank_reference = the entry's AcctSvcrRef, else its NtryRef, else "<statement id>/<entry number>".
- Batch bookings: an entry with several TxDtls that all carry an amount becomes one Entry per TxDtls,
  because cash application applies each payment separately. Each gets the TxDtls' own AcctSvcrRef when
  it has one, else "<entry reference>/<n>" (n counted from 1 within the entry). When the parts do not add
  up to the entry amount, that is a warning. A batch whose TxDtls lack amounts stays one Entry carrying
  all their remittance items.
- raw is the entry's own XML text, cut from the file, and source_line its element path and line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - fed only after the DTD check below
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from ._common import _DECIMAL as _NUMBER
from ._common import MAX_DIGITS, decimal_amount, list_sizes, parse_date
from .types import CREDIT, DEBIT, BankFileError, Entry, RemittanceItem, Statement

_ROOTS = {"BkToCstmrStmt": "Stmt", "BkToCstmrAcctRpt": "Rpt", "BkToCstmrDbtCdtNtfctn": "Ntfctn"}
# The attacks defusedxml guards against (entity expansion, external entities) all need a DTD. A file without
# one goes to the C parser (defusedxml's pure-Python callbacks cost half the parse time on big statements);
# anything mentioning a DOCTYPE or ENTITY goes through defusedxml, which refuses it.
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_NTRY_OPEN = re.compile(rb"<((?:[\w.-]+:)?)Ntry[\s>]")
_NTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?Ntry\s*>")
_NTRY_NAME = re.compile(rb"Ntry[\s>]")

# What ElementTree raises besides ParseError: LookupError for an encoding Python does not know, ValueError for
# one expat cannot use (multi-byte), both named in the XML declaration.
_UNREADABLE = (ET.ParseError, LookupError, ValueError)

_DOC_TYPES = {"CINV": "invoice", "CREN": "credit_memo", "CMCN": "invoice", "DEBN": "invoice", "SOAC": "other",
              "PUOR": "purchase_order"}


def _channel(domain: str, family: str, sub: str) -> str:
    if family in ("RDDT", "IDDT") or sub in ("ESDD", "BBDD", "PMDD", "OODD"):
        return "direct_debit"
    if family in ("CCRD", "MCRD") or sub in ("POSD", "CWDL", "POSC"):
        return "card"
    if family == "LBOX":
        return "lockbox"
    if family in ("RCHQ", "ICHQ", "CHK") or sub in ("CCHQ", "BCHQ", "URCQ"):
        return "check"
    if family in ("RCDT", "ICDT"):
        # SEPA and automated clearing transfers are batch clearing (ACH-like); the rest are wires.
        if sub in ("ESCT", "ACDT", "SALA", "AUTT", "VCOM", "STDO", "ATXN", "DMCT") and sub != "DMCT":
            return "ach"
        return "wire"
    return "other"


class _Reader:
    """Namespace-agnostic element access with the path of each element kept for error messages."""

    def __init__(self, ns: str):
        self.ns = ns
        self._paths: dict[str, tuple[str, ...]] = {}
        self._texts: dict[str, tuple[tuple[str, ...], str]] = {}

    def q(self, path: str) -> tuple[str, ...]:
        hit = self._paths.get(path)
        if hit is None:
            hit = tuple(f"{{{self.ns}}}{p}" if self.ns else p for p in path.split("/"))
            self._paths[path] = hit
        return hit

    def find(self, el, path: str):
        # Chained single-tag finds stay in C; ElementPath's multi-step search costs several times more.
        for tag in self._paths.get(path) or self.q(path):
            el = el.find(tag)
            if el is None:
                return None
        return el

    def findall(self, el, path: str):
        *head, last = self.q(path)
        for tag in head:
            el = el.find(tag)
            if el is None:
                return []
        return el.findall(last)

    def text(self, el, path: str) -> str:
        # The hottest call of a big statement (about 20 per entry): the walk is inlined rather than going
        # through find(), which alone cost a second per 100k entries, and the last step is findtext (in C).
        split = self._texts.get(path)
        if split is None:
            tags = self.q(path)
            split = self._texts[path] = (tags[:-1], tags[-1])
        head, last = split
        for tag in head:
            el = el.find(tag)
            if el is None:
                return ""
        text = el.findtext(last)
        return text.strip() if text else ""


def parse(data: bytes, warnings: list[str]) -> list[Statement]:
    statements: list[Statement] = []
    entries: list[Entry] = []
    for item in iter_parse(data, warnings):
        if isinstance(item, Statement):
            if statements:
                statements[-1] = replace(statements[-1], entries=tuple(entries),
                                         currency=statements[-1].currency or (entries[0].currency if entries else ""))
            statements.append(item)
            entries = []
        else:
            entries.extend(item)
    statements[-1] = replace(statements[-1], entries=tuple(entries),
                             currency=statements[-1].currency or (entries[0].currency if entries else ""))
    return statements


def iter_parse(data: bytes, warnings: list[str], chunk_size: int = 5000) -> Iterator[Statement | list[Entry]]:
    """The file as it is read: each statement (without entries; currency "" when only its entries name one, and
    then the first entry's currency is the statement's), followed by its entries in lists of up to chunk_size.
    The import stores each list while the next is read; a refusal can come after lists were yielded.

    A file whose entries can be cut out exactly (see `_Pieces`) is parsed in pieces: first its skeleton (all
    but the entries), then the entries a group at a time, so the first list is out after one group has been
    parsed rather than the whole tree. The values and the refusals are those of the one-tree parse."""
    tags = _ntry_tags(data)
    pieces = _Pieces.plan(data, tags, _group_sizes(chunk_size, len(tags[0])))  # None for a file with a DTD
    sizes = list_sizes(chunk_size, len(tags[0]))
    target = next(sizes)
    root = None
    if pieces is not None:
        try:
            root = ET.fromstring(pieces.skeleton)  # noqa: S314 - no DTD: the file has no "<!"
        except _UNREADABLE:
            pieces = None  # the file's own error follows; should the whole file parse, it is read as one tree
    if root is None:
        root = _parse_whole(data)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    r = _Reader(ns)
    local = root.tag.rsplit("}", 1)[-1]
    message = _message(root)
    if pieces is not None:
        stmt_tag = _ROOTS[message.tag.rsplit("}", 1)[-1]] if message is not None else ""
        if message is None or not pieces.place(r.findall(message, stmt_tag), r.q(_MARKER)[0], root):
            pieces = None
            root = _parse_whole(data)
            message = _message(root)
    if message is None:
        raise BankFileError("no BkToCstmrStmt, BkToCstmrAcctRpt or BkToCstmrDbtCdtNtfctn element", element=local)
    msg_name = message.tag.rsplit("}", 1)[-1]
    stmt_tag = _ROOTS[msg_name]
    stmts = r.findall(message, stmt_tag)
    if pieces is None:
        raw_entries = _raw_entries(data, tags)
        ntry_tag = r.q("Ntry")[0]
    else:
        walked = pieces.entries(r, stmt_tag)
        ahead = [None]  # the next (statement number, Ntry, raw, line) of the walk
    try:
        entry = _entry_walker(ns)
        (sts_tag,), (cd_tag,) = r.q("Sts"), r.q("Cd")
        ntry_no = 0
        seen = False
        skipped = 0
        for s_idx, stmt in enumerate(stmts, start=1):
            spath = f"{msg_name}/{stmt_tag}[{s_idx}]"
            statement_id = r.text(stmt, "Id")
            if not statement_id:
                raise BankFileError("missing Id", element=spath)
            account = r.text(stmt, "Acct/Id/IBAN") or r.text(stmt, "Acct/Id/Othr/Id")
            if not account:
                raise BankFileError("missing account (Acct/Id/IBAN or Acct/Id/Othr/Id)", element=f"{spath}/Acct")
            currency = r.text(stmt, "Acct/Ccy")
            created = r.text(stmt, "CreDtTm") or r.text(stmt, "FrToDt/ToDtTm")
            as_of = parse_date(created, "ISO", what="statement date", element=f"{spath}/CreDtTm") if created else None
            opening = closing = None
            for b_idx, bal in enumerate(r.findall(stmt, "Bal"), start=1):
                code = r.text(bal, "Tp/CdOrPrtry/Cd")
                if code not in ("OPBD", "PRCD", "CLBD"):
                    continue
                amount, ccy = _amount(r, bal, "Amt", f"{spath}/Bal[{b_idx}]")
                currency = currency or ccy
                if r.text(bal, "CdtDbtInd") == "DBIT":
                    amount = -amount
                if code == "CLBD":
                    closing = amount
                elif code == "OPBD" or opening is None:
                    opening = amount
            seen = True
            yield Statement(statement_id=statement_id, account=account, currency=currency, as_of=as_of, entries=(),
                            opening_balance=opening, closing_balance=closing)
            if pieces is None:
                ntrys = [(ntry, *(raw_entries[ntry_no + i] if ntry_no + i < len(raw_entries) else ("", 0)))
                         for i, ntry in enumerate(stmt.findall(ntry_tag))]
            else:
                if s_idx == 1:
                    ahead[0] = next(walked, None)
                ntrys = _of_statement(walked, ahead, s_idx)
            entries: list[Entry] = []
            n_idx = 0
            for ntry, raw, line in ntrys:
                n_idx += 1
                ntry_no += 1
                npath = f"{spath}/Ntry[{n_idx}]"
                sts = ntry.find(sts_tag)
                status = "" if sts is None else (sts.findtext(cd_tag) or "").strip() or (sts.text or "").strip()
                if status and status != "BOOK":
                    skipped += 1
                    continue
                entries.extend(entry(ntry, npath, statement_id, n_idx, raw, line, warnings, as_of))
                if len(entries) >= target:
                    yield entries
                    entries = []
                    target = next(sizes)
            if entries:
                yield entries
        if not seen:
            raise BankFileError(f"no {stmt_tag} element", element=msg_name)
    except BankFileError:
        if pieces is not None and not pieces.checked:
            pieces.whole()  # a file that is not well-formed further on is refused for that, as the tree was
        raise
    if skipped:
        warnings.append(f"{skipped} entries not booked (pending or information only) were skipped")


def _group_sizes(chunk_size: int, n: int) -> list[int]:
    """How many entries each parse of a part holds: those of the lists yielded (`list_sizes`), so that the first list
    is out after a small part was parsed, and never fewer than 1,000 (the skeleton is parsed again with each)."""
    sizes: list[int] = []
    planned = 0
    for size in list_sizes(max(chunk_size, 1000), n):
        if planned >= n:
            break
        sizes.append(max(size, 1000))
        planned += sizes[-1]
    return sizes


def _of_statement(walked, ahead: list, s_idx: int):
    """The entries of statement s_idx, taken from the walk as they are parsed."""
    while ahead[0] is not None and ahead[0][0] == s_idx:
        yield ahead[0][1:]
        ahead[0] = next(walked, None)


def _message(root):
    if root.tag.rsplit("}", 1)[-1] in _ROOTS:
        return root
    for child in root:
        if child.tag.rsplit("}", 1)[-1] in _ROOTS:
            return child
    return None


def _parse_whole(data: bytes):
    try:
        return defused_fromstring(data, forbid_dtd=True) if _DTD.search(data) else ET.fromstring(data)  # noqa: S314
    except DefusedXmlException as exc:
        raise BankFileError(f"XML with a DTD or entity declarations is refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise BankFileError(f"XML is not well-formed ({exc.msg if hasattr(exc, 'msg') else exc}), column {column}",
                            line=line) from None
    except (LookupError, ValueError) as exc:
        raise BankFileError(f"the XML declaration names an encoding that cannot be read ({exc})", line=1) from None


_MARKER = "O2cNtryRun"


class _Where:
    """where/RmtInf/Strd[n], spelled out only for a refusal's message."""

    __slots__ = ("where", "n")

    def __init__(self, where: str, n: int):
        self.where, self.n = where, n

    def __str__(self) -> str:
        return f"{self.where}/RmtInf/Strd[{self.n}]"


class _Pieces:
    """A statement file cut into its skeleton and its entries, when the cut is certain to be exact.

    That is when the file has no comment, CDATA section, DOCTYPE or processing instruction (beyond the XML
    declaration), so that every "<" starts a tag and the Ntry tags found by searching are the elements; when
    opening and closing Ntry tags alternate (no nesting, no empty Ntry) and all have one prefix. A run is a
    sequence of entries with only text between them; in the skeleton each run becomes an empty marker element
    of the same prefix, which must then sit directly in a statement that is read (else the file is read as
    one tree). A group of entries is parsed as the skeleton with the markers of its runs replaced by its part
    of them: the same ancestors, namespace declarations and XML declaration as in the file, so each Ntry
    element is the one the whole tree has. Every byte of the file is in the skeleton or in one group."""

    def __init__(self, data, opens, closes, runs, skeleton_parts, groups):
        self.data = data
        self.opens = opens
        self.closes = closes
        self.runs = runs  # (first entry, last entry + 1)
        self.parts = skeleton_parts  # text, marker, text, marker, ..., text
        self.skeleton = b"".join(skeleton_parts)
        self.groups = groups  # the number of entries of each part parsed
        self.statement_of_run: list[int] = []
        self.checked = False
        self._trees: list = []

    def whole(self) -> None:
        """Raises the refusal of the whole file when it is not well-formed."""
        self.checked = True
        _parse_whole(self.data)

    @classmethod
    def plan(cls, data: bytes, tags, groups: list[int]) -> _Pieces | None:
        opens, closes, prefixes = tags
        n = len(opens)
        if not n or n != len(closes) or len(prefixes) != 1:
            return None
        # "!" and "?" are rare in bank files and found ten times faster than "<!" (every tag starts with "<").
        if _MARKER.encode() in data or (data.find(b"!") != -1 and data.find(b"<!") != -1):
            return None
        decl = re.match(rb"(?:\xef\xbb\xbf)?<\?xml[^>]*>", data)
        after = decl.end() if decl else 0
        if data.find(b"?", after) != -1 and data.find(b"<?", after) != -1:
            return None
        prev_end = 0
        for (o_start, o_end), (c_start, c_end) in zip(opens, closes, strict=True):
            if o_start < prev_end or c_start < o_end:
                return None
            prev_end = c_end
        prefix = next(iter(prefixes))
        marker = b"<" + prefix + _MARKER.encode() + b"/>"
        runs = []
        parts = []
        pos = 0
        first = 0
        find = data.find
        for i in range(1, n + 1):
            if i == n or find(b"<", closes[i - 1][1], opens[i][0]) != -1:
                parts.append(data[pos:opens[first][0]])
                parts.append(marker)
                pos = closes[i - 1][1]
                runs.append((first, i))
                first = i
        parts.append(data[pos:])
        skeleton = sum(len(p) for p in parts) - len(marker) * len(runs)
        if skeleton * (len(groups) - 1) > len(data):  # many small statements: reparsing the skeleton would cost more
            return None
        return cls(data, opens, closes, runs, parts, groups)

    def place(self, stmts, marker_tag: str, root) -> bool:
        """Which statement each run is in; False when a marker is anywhere else."""
        found = []
        for s_idx, stmt in enumerate(stmts, start=1):
            for child in stmt:
                if child.tag == marker_tag:
                    found.append(s_idx)
        if len(found) != len(self.runs):
            return False
        if sum(1 for el in root.iter() if el.tag.endswith(_MARKER)) != len(self.runs):
            return False
        self.statement_of_run = found
        return True

    def entries(self, r: _Reader, stmt_tag: str) -> Iterator[tuple[int, object, str, int]]:
        """(statement number, Ntry element, raw text, line) of every entry in document order."""
        data, opens, closes = self.data, self.opens, self.closes
        n = len(opens)
        ntry_tag = r.q("Ntry")[0]
        run_of = 0
        line, pos = 1, 0
        g_end = 0
        for size in self.groups:
            g_start, g_end = g_end, min(g_end + size, n)
            parts = list(self.parts)
            touched = []  # (statement, first entry, end)
            while run_of < len(self.runs) and self.runs[run_of][0] < g_end:
                first, end = self.runs[run_of]
                a, b = max(first, g_start), min(end, g_end)
                # The text after an entry goes with it, up to the next entry of the run.
                stop = opens[b][0] if b < end else closes[b - 1][1]
                parts[2 * run_of + 1] = data[opens[a][0]:stop]
                s_idx = self.statement_of_run[run_of]
                if touched and touched[-1][0] == s_idx:  # runs of one statement are parsed as one
                    touched[-1] = (s_idx, touched[-1][1], b)
                else:
                    touched.append((s_idx, a, b))
                if end > g_end:
                    break
                run_of += 1
            try:
                root = ET.fromstring(b"".join(parts))  # noqa: S314 - no DTD (checked by the caller)
            except _UNREADABLE:
                self.whole()  # the file's own error
                raise BankFileError("XML could not be read in parts") from None  # not expected: see the class
            del parts
            # Each group's tree is kept until the file is read, as the one tree was: freeing them while the
            # entries made from them live on cost the 100k parse 0.35-0.4 s (2.6 -> 3.0 s) in allocator churn.
            self._trees.append(root)
            stmts = r.findall(_message(root), stmt_tag)
            for s_idx, a, b in touched:
                ntrys = stmts[s_idx - 1].findall(ntry_tag)
                if len(ntrys) != b - a:
                    self.whole()
                    raise BankFileError("XML could not be read in parts")
                for i, ntry in zip(range(a, b), ntrys, strict=True):
                    start = opens[i][0]
                    line += data.count(b"\n", pos, start)
                    pos = start
                    yield s_idx, ntry, data[start:closes[i][1]].decode("utf-8", "replace"), line


def _ntry_tags(data: bytes) -> tuple[list[tuple[int, int]], list[tuple[int, int]], set[bytes]]:
    """The opening and closing Ntry tags' spans, in document order, and the prefixes of the opening ones.

    The tag patterns are tried only where "Ntry" followed by a space or ">" occurs (a literal the regex engine
    finds fast), from the "<" before it: trying them at every "<" of a 68 MB statement took 0.7 s."""
    opens, closes, prefixes = [], [], set()
    rfind = data.rfind
    floor = 0
    for m in _NTRY_NAME.finditer(data):
        # The "<" of a tag comes after the previous "Ntry": between them there is only "/" and a prefix, which
        # cannot hold "Ntry" and a space. Searching back from there only keeps "Ntry Ntry Ntry ..." (no "<")
        # linear: searching back to the file's start took hours for 50 MB.
        lt = rfind(b"<", floor, m.start())
        floor = m.end()
        if lt < 0:
            continue
        tag = _NTRY_OPEN.match(data, lt)
        if tag is not None and tag.end() == m.end():
            opens.append((lt, tag.end()))
            prefixes.add(tag.group(1))
            continue
        tag = _NTRY_CLOSE.match(data, lt)
        if tag is not None:
            closes.append((lt, tag.end()))
    return opens, closes, prefixes


def _raw_entries(data: bytes, tags) -> list[tuple[str, int]]:
    """Each Ntry's source text and line, in document order.

    Ntry elements never nest in a real file. In a hostile one they may, and the text of each one up to the
    first closing tag made the texts of 100,000 nested entries add up to gigabytes: a text stops at the next
    opening Ntry tag, so that they add up to the file at most. (Nested entries are not read as entries.)"""
    opens, closes, _prefixes = tags
    out = []
    line = 1
    pos = 0
    c = 0
    for i, (start, end) in enumerate(opens):
        while c < len(closes) and closes[c][0] < end:
            c += 1
        if c == len(closes):
            break
        line += data.count(b"\n", pos, start)
        pos = start
        stop = closes[c][1]
        if i + 1 < len(opens) and opens[i + 1][0] < stop:
            stop = opens[i + 1][0]
        out.append((data[start:stop].decode("utf-8", "replace"), line))
    return out


def _amount(r: _Reader, el, path: str, where: str) -> tuple[Decimal, str]:
    return _amount_of(r.find(el, path), path, where)


def _amount_of(amt, path: str, where: str) -> tuple[Decimal, str]:
    """The amount and currency of amt, the element found at where/path (None when there is none)."""
    if amt is None:
        raise BankFileError("missing", element=f"{where}/{path}")
    ccy = amt.get("Ccy", "")
    if not ccy:
        raise BankFileError("missing Ccy", element=f"{where}/{path}")
    value = _number(amt.text or "", path, where)
    if value < 0:
        raise BankFileError(f"amount {amt.text!r} is negative (the sign belongs in CdtDbtInd)",
                            element=f"{where}/{path}")
    return value, ccy


def _number(text: str, path: str, where: str) -> Decimal:
    """decimal_amount's value; the element's path is spelled out only for a refusal (two or three amounts an
    entry: building the string each time cost more than the check)."""
    raw = text.strip()
    if len(raw) <= 2 * MAX_DIGITS and _NUMBER.fullmatch(raw):
        return Decimal(raw)
    return decimal_amount(text, what="amount", element=f"{where}/{path}")  # raises, naming the element


def _direction(indicator: str, where: str) -> str:
    if indicator == "CRDT":
        return CREDIT
    if indicator == "DBIT":
        return DEBIT
    raise BankFileError(f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT", element=f"{where}/CdtDbtInd")


def _entry_walker(ns: str):
    """The walk of one Ntry for one namespace, as a function.

    Each value is one C call (find or findtext of a single qualified tag) on the element found one level up,
    and each element on the way is found once: the generic path lookups (about 20 Python calls per entry,
    each walking down from the entry again) cost 2 s of a 100k-entry statement. Lookups keep ElementTree's
    meaning: the first child of that name, then the first of its children of the next name."""
    def q(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    (AMT, CDT_DBT_IND, RVSL_IND, VAL_DT, BOOKG_DT, DT, DT_TM, ACCT_SVCR_REF, NTRY_REF, BK_TX_CD, DOMN, CD, FMLY,
     SUB_FMLY_CD, PRTRY, ADDTL_NTRY_INF, NTRY_DTLS, TX_DTLS, AMT_DTLS, TX_AMT, RLTD_PTIES, NM, PTY, ID, IBAN, OTHR,
     REFS, END_TO_END_ID, UETR, RMT_INF, USTRD, STRD, ADDTL_RMT_INF, RFRD_DOC_INF, NB, TP, CD_OR_PRTRY,
     CDTR_REF_INF, REF, RFRD_DOC_AMT, RMTD_AMT, DUE_PYBL_AMT, DSCNT_APLD_AMT, ADJSTMNT, RSN, ADDTL_INF) = map(q, (
        "Amt", "CdtDbtInd", "RvslInd", "ValDt", "BookgDt", "Dt", "DtTm", "AcctSvcrRef", "NtryRef", "BkTxCd",
        "Domn", "Cd", "Fmly", "SubFmlyCd", "Prtry", "AddtlNtryInf", "NtryDtls", "TxDtls", "AmtDtls", "TxAmt",
        "RltdPties", "Nm", "Pty", "Id", "IBAN", "Othr", "Refs", "EndToEndId", "UETR", "RmtInf", "Ustrd", "Strd",
        "AddtlRmtInf", "RfrdDocInf", "Nb", "Tp", "CdOrPrtry", "CdtrRefInf", "Ref", "RfrdDocAmt", "RmtdAmt",
        "DuePyblAmt", "DscntApldAmt", "AdjstmntAmtAndRsn", "Rsn", "AddtlInf"))
    ROLES = {CREDIT: tuple(map(q, ("Dbtr", "UltmtDbtr", "DbtrAcct"))),
             DEBIT: tuple(map(q, ("Cdtr", "UltmtCdtr", "CdtrAcct")))}
    codes_seen: dict[tuple[str, str, str], tuple[str, str]] = {}
    dates_seen: dict[str, object] = {}

    def date_of(found, name: str, where: str):
        if found is None:
            return None
        text = (found.findtext(DT) or "").strip() or (found.findtext(DT_TM) or "").strip()
        if not text:
            return None
        hit = dates_seen.get(text)
        if hit is None:
            hit = parse_date(text, "ISO", what="date", element=f"{where}/{name}")
            if len(dates_seen) < 10_000:
                dates_seen[text] = hit
        return hit

    def opt_amount(found, path: str, where: str) -> Decimal | None:
        if found is None:
            return None
        text = found.text
        if text is None or not text.strip():
            return None
        return _number(text, path, where)

    def party_name(party) -> str:
        if party is None:
            return ""
        name = (party.findtext(NM) or "").strip()
        if name:
            return name
        pty = party.find(PTY)
        return (pty.findtext(NM) or "").strip() if pty is not None else ""

    def tx_amount(tx, where: str) -> tuple[Decimal, str] | None:
        found = tx.find(AMT_DTLS)
        if found is not None:
            found = found.find(TX_AMT)
            if found is not None:
                found = found.find(AMT)
                if found is not None:
                    return _amount_of(found, "AmtDtls/TxAmt/Amt", where)
        found = tx.find(AMT)
        return _amount_of(found, "Amt", where) if found is not None else None

    def remittance(tx, where: str) -> tuple[list[RemittanceItem], list[str]]:
        items: list[RemittanceItem] = []
        texts: list[str] = []
        rmt = tx.find(RMT_INF)
        if rmt is None:
            return items, texts
        for u in rmt.findall(USTRD):
            text = u.text
            if text and (text := text.strip()):
                texts.append(text)
        for s_idx, strd in enumerate(rmt.findall(STRD), start=1):
            spath = _Where(where, s_idx)
            extra = " ".join([a.text.strip() for a in strd.findall(ADDTL_RMT_INF) if a.text and a.text.strip()])
            docs = strd.findall(RFRD_DOC_INF)
            creditor_ref = strd.find(CDTR_REF_INF)
            ref = (creditor_ref.findtext(REF) or "").strip() if creditor_ref is not None else ""
            amounts = strd.find(RFRD_DOC_AMT)
            paid = gross = discount = adjustment = None
            reason = ""
            if amounts is not None:
                paid = opt_amount(amounts.find(RMTD_AMT), "RmtdAmt", spath)
                gross = opt_amount(amounts.find(DUE_PYBL_AMT), "DuePyblAmt", spath)
                found = amounts.find(DSCNT_APLD_AMT)
                # A zero discount falls through to the nested Amt, as the path lookups did.
                discount = opt_amount(found, "DscntApldAmt", spath) or (
                    opt_amount(found.find(AMT), "DscntApldAmt/Amt", spath) if found is not None else None)
                adj = amounts.find(ADJSTMNT)
                if adj is not None:
                    adjustment = opt_amount(adj.find(AMT), "Amt", spath)
                    reason = (adj.findtext(RSN) or "").strip() or (adj.findtext(ADDTL_INF) or "").strip()
            if docs:
                for d in docs:
                    number = (d.findtext(NB) or "").strip()
                    if not number:
                        continue
                    code = d.find(TP)
                    if code is not None:
                        code = code.find(CD_OR_PRTRY)
                    code = (code.findtext(CD) or "").strip() if code is not None else ""
                    items.append(RemittanceItem(
                        reference=number, reference_type=_DOC_TYPES.get(code, "invoice"),
                        amount_paid=paid, gross_amount=gross, discount=discount, adjustment=adjustment,
                        adjustment_reason=reason, text=extra,
                    ))
                    # Amounts belong to the document group; with several documents only the first may claim them.
                    paid = gross = discount = adjustment = None
                    reason = ""
            elif ref:
                items.append(RemittanceItem(reference=ref, reference_type="creditor_reference", amount_paid=paid,
                                            gross_amount=gross, discount=discount, adjustment=adjustment,
                                            adjustment_reason=reason, text=extra))
            elif extra:
                texts.append(extra)
        return items, texts

    def details(tx, where: str, direction: str):
        name = account = ""
        parties = tx.find(RLTD_PTIES)
        if parties is not None:
            party, ultimate, party_account = ROLES[direction]
            name = party_name(parties.find(party)) or party_name(parties.find(ultimate))
            found = parties.find(party_account)
            if found is not None:
                found = found.find(ID)
                if found is not None:
                    account = (found.findtext(IBAN) or "").strip()
                    if not account:
                        found = found.find(OTHR)
                        account = (found.findtext(ID) or "").strip() if found is not None else ""
        items, texts = remittance(tx, where)
        e2e = ""
        refs = tx.find(REFS)
        if refs is not None:
            e2e = (refs.findtext(END_TO_END_ID) or "").strip()
            if e2e.upper() == "NOTPROVIDED":
                e2e = ""
            e2e = e2e or (refs.findtext(UETR) or "").strip()
        return name, account, e2e, items, texts

    def entry(ntry, where: str, statement_id: str, n_idx: int, raw: str, line: int, warnings: list[str],
              as_of) -> list[Entry]:
        find = ntry.find
        amount, currency = _amount_of(find(AMT), "Amt", where)
        direction = _direction((ntry.findtext(CDT_DBT_IND) or "").strip(), where)
        reversal = (ntry.findtext(RVSL_IND) or "").strip().lower() == "true"
        value = date_of(find(VAL_DT), "ValDt", where)
        # Notifications often carry only one of the two dates; the statement's own date is the last resort.
        booking = date_of(find(BOOKG_DT), "BookgDt", where) or value or as_of
        value = value or booking
        reference = ((ntry.findtext(ACCT_SVCR_REF) or "").strip() or (ntry.findtext(NTRY_REF) or "").strip()
                     or f"{statement_id}/{n_idx}")
        channel, bank_code = "other", ""
        bk = find(BK_TX_CD)
        if bk is not None:
            codes = ("", "", "")
            domain = bk.find(DOMN)
            if domain is not None:
                family = domain.find(FMLY)
                codes = ((domain.findtext(CD) or "").strip(),
                         (family.findtext(CD) or "").strip() if family is not None else "",
                         (family.findtext(SUB_FMLY_CD) or "").strip() if family is not None else "")
            coded = codes_seen.get(codes)
            if coded is None:
                coded = codes_seen[codes] = (_channel(*codes), "/".join(filter(None, codes)))
            channel, bank_code = coded
            if not bank_code:
                proprietary = bk.find(PRTRY)
                bank_code = (proprietary.findtext(CD) or "").strip() if proprietary is not None else ""
        addtl = (ntry.findtext(ADDTL_NTRY_INF) or "").strip()
        source = f"{where} (line {line})" if line else where
        txs = []
        for d_idx, ntry_details in enumerate(ntry.findall(NTRY_DTLS), start=1):
            for t_idx, tx in enumerate(ntry_details.findall(TX_DTLS), start=1):
                txs.append((f"{where}/NtryDtls[{d_idx}]/TxDtls[{t_idx}]", tx))

        split = len(txs) > 1 and all(tx_amount(tx, p) is not None for p, tx in txs)
        if split:
            out = []
            total = Decimal(0)
            for i, (tpath, tx) in enumerate(txs, start=1):
                tx_value, tx_ccy = tx_amount(tx, tpath)
                tx_ind = (tx.findtext(CDT_DBT_IND) or "").strip()
                tx_direction = _direction(tx_ind, tpath) if tx_ind else direction
                total += tx_value if tx_direction == direction else -tx_value
                name, account, e2e, items, texts = details(tx, tpath, tx_direction)
                refs = tx.find(REFS)
                tx_reference = (refs.findtext(ACCT_SVCR_REF) or "").strip() if refs is not None else ""
                out.append(Entry(
                    bank_reference=tx_reference or f"{reference}/{i}",
                    amount=tx_value, direction=tx_direction, payer_name=name, payer_account=account,
                    end_to_end_id=e2e, remittance=tuple(items), unstructured=" ".join(texts),
                    source_line=f"{tpath} (line {line})" if line else tpath,
                    currency=tx_ccy, value_date=value, booking_date=booking, channel=channel,
                    bank_code=bank_code, raw=raw, reversal=reversal,
                ))
            if total != amount:
                warnings.append(f"element {where}: batch booking of {amount} {currency} but its TxDtls add up to "
                                f"{total}")
            return out
        if len(txs) == 1:
            tpath, tx = txs[0]
            name, account, e2e, items, texts = details(tx, tpath, direction)
            if not texts and addtl and not items:
                texts.append(addtl)
            return [Entry(reference, amount, direction, currency, value, booking, channel, name, account, e2e,
                          tuple(items), " ".join(texts), bank_code, raw, source, reversal)]
        names, accounts, items, texts = [], [], [], []
        for tpath, tx in txs:
            name, account, _e2e, tx_items, tx_texts = details(tx, tpath, direction)
            names.append(name)
            accounts.append(account)
            items.extend(tx_items)
            texts.extend(tx_texts)
        if not texts and addtl and not items:
            texts.append(addtl)
        return [Entry(
            bank_reference=reference,
            amount=amount,
            direction=direction,
            payer_name=names[0] if len(set(names)) == 1 and names else "",
            payer_account=accounts[0] if len(set(accounts)) == 1 and accounts else "",
            end_to_end_id="",
            remittance=tuple(items),
            unstructured=" ".join(texts),
            source_line=source,
            currency=currency, value_date=value, booking_date=booking, channel=channel,
            bank_code=bank_code, raw=raw, reversal=reversal,
        )]

    return entry
