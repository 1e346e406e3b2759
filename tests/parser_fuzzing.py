"""Structured mutation of real bank files, shared by the Hypothesis tests (tests/test_parser_fuzz.py) and the
million-input run (bench/fuzz_parsers.py).

A mutator never draws from a random source directly: it asks a `Chooser`. The tests pass one backed by
Hypothesis (`DrawChooser`: every choice is a draw, so a failure shrinks to a small sequence of choices); the
benchmark passes one backed by a seeded `random.Random` (`RandomChooser`: cheap enough for a million inputs).
Both drive the same mutators over the same seeds, so the benchmark explores what the tests would, only more.

Each format is cut the way its parser reads it: into records (lines, or X12 segments) and each record into
fields (BAI2 commas and slashes, MT940 tags and :86: subfields, camt text nodes and attribute values, NACHA
and lockbox columns, X12 elements, CSV cells). Mutations work on those units: delete, duplicate, swap and
move records, truncate anywhere, put hostile values into fields, change counts, totals, signs and type
codes; plus byte-level damage, wrong encodings, XML attacks (deep nesting, DTDs and entities) and pure
random bytes.

`run_parsers` is the contract under test: every parser, through the public dispatch and directly, either
returns or raises BankFileError. Anything else escapes as the crash it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from payments.parsers import (
    BankFileError,
    CsvMapping,
    bai2,
    camt,
    csv_mapped,
    lockbox,
    mt940,
    nacha,
    stream_bank_file,
    x12_812,
    x12_820,
)
from tests.test_bank_parsers import FIXTURES  # where the shared fixtures are, found as that suite finds them

FORMATS = ("bai2", "camt", "mt940", "lockbox", "nacha", "x12_820", "x12_812", "csv")
# Folders of the shared fixtures ($O2C_SHARED_DIR/fixtures/bank-files, ../shared by default) seeding each format.
FIXTURE_DIRS = {"bai2": ("bai2",), "camt": ("camt052", "camt053", "camt054"), "mt940": ("mt940",),
                "lockbox": ("lockbox",), "nacha": ("nacha",), "x12_820": ("x12_820",)}
CSV_MAPPING = CsvMapping(date="Buchungstag", amount="Betrag", payer_name="Auftraggeber", text="Verwendungszweck",
                         invoice="Rechnung", currency="Waehrung", reference="Referenz", value_date="Valuta",
                         date_format="%d.%m.%Y", decimal_separator=",", thousands_separator=".", delimiter=";",
                         default_currency="EUR", account="DE89370400440532013000", bank="sparkasse")
CSV_PAIR_MAPPING = CsvMapping(date="date", credit="credit", debit="debit", reference="ref", payer_name="payer")
_ISA = "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *251103*1200*U*00401*000000901*0*P*>~\n"

# Seeds of our own for the formats without shared fixtures (CSV, X12 812) and one small file per format, so
# that the corpus and the tests run without the shared directory too.
BUILTIN_SEEDS = {
    "csv": [
        ("sparkasse.csv", "Buchungstag;Valuta;Betrag;Waehrung;Auftraggeber;Verwendungszweck;Rechnung;Referenz\n"
                          "02.01.2025;03.01.2025;1.234,56;EUR;Acme GmbH;Zahlung RE 1001;RE-1001;R1\n"
                          "02.01.2025;;-12,00;;Bank;Gebuehr;;\n"
                          "\"03.01.2025\";03.01.2025;\"-1.000,00\";EUR;\"Smith; Jones\";\"two\nlines\";RE-7;R3\n"),
        ("pair.csv", "date,credit,debit,ref,payer\n2025-01-02,100.00,,A1,Acme\n2025-01-02,,5.25,A2,Bank\n"),
    ],
    "x12_812": [
        ("two.812", _ISA + "GS*CD*BUYER*SELLER*20251103*1200*901*X*004010~\nST*812*0001~\n"
                           "BCD*20251103*ADJ-77*I*35.00*D**INV-812~\nN1*BY*Big Retail*92*C-1~\nCDD*DC22*D**20.00~\n"
                           "CDD*PR*D**15.00~\nSE*6*0001~\nST*812*0002~\nBCD*20251103*ADJ-78*I*5.00*C**INV-812~\n"
                           "SE*3*0002~\nGE*2*901~\nIEA*1*000000901~\n"),
    ],
    "x12_820": [
        ("small.820", _ISA + "GS*RA*BUYER*SELLER*20251103*1200*901*X*004010~\nST*820*0001~\n"
                             "BPR*C*250.00*C*ACH*CTX*01*011000015*DA*12345**01*021000021*DA*67890*20251103~\n"
                             "TRN*1*TRACE-820~\nCUR*PR*USD~\nN1*PR*Some Payer*92*P1~\nN1*PE*Us~\nENT*1~\n"
                             "RMR*IV*INV-820**250.00*300.00*5.00~\nADX*-50.00*DAMAGED~\nDTM*097*20251101~\n"
                             "SE*11*0001~\nGE*1*901~\nIEA*1*000000901~\n"),
    ],
    "bai2": [
        ("small.bai2", "01,BANKUS33,O2C,250102,0600,7,,,2/\n02,O2C,BANKUS33,1,250101,2400,USD,2/\n"
                       "03,1234567890,USD,010,100000,,,015,160000,,/\n16,195,50000,Z,BR1,CR1,WIRE FROM ACME/\n"
                       "88,ORG:=ACME CORP\n88,OBI:=INV 1001\n16,142,10000,V,250102,,BR2,CR2,ACH/ "
                       "16,142,0,D,2,0,100,1,200,BR3,CR3,ZERO/\n16,301,1,S,1,0,0,BR4,,/\n49,320000,9/\n"
                       "98,320000,1,11/\n99,320000,1,13/\n"),
    ],
    "mt940": [
        ("small.sta", ":20:STMT1\n:25:DE89370400440532013000EUR\n:28C:1/1\n:60F:C250101EUR1000,00\n"
                      ":61:2501020102CR500,00NTRFREF1//BANKREF1\nsupplementary\n"
                      ":86:166?00GUTSCHRIFT?20EREF+E2E-1?21SVWZ+INV 1001?32ACME GMBH?31DE02100100109307118603\n"
                      ":61:250102DR12,50NCHGNONREF\n:86:/NAME/BANK/REMI/FEE/EREF/X1/\n"
                      ":62F:C250102EUR1487,50\n:90D:1EUR12,50\n:90C:1EUR500,00\n:13D:2501021200+0100\n-\n"),
    ],
    "lockbox": [
        ("small.lbx", "\n".join((
            "100CITIBANK  O2C       2501020600",
            "2000001234",
            "5000000" + "0012345" + "250102",
            "6" + "001" + "001" + "0000012345" + "012345678" + "9000123456" + "0000001234" + " " * 6 + "ACME CORP",
            "4" + "001" + "001" + "    " + "INV-1001",
            "4" + "001" + "001" + "    " + "INV-1002",
            "7" + "001" + " " * 16 + "001" + "0000012345",
            "8" + "001" + " " * 16 + "0001" + "0000012345",
            "9000009")) + "\n"),
    ],
    "nacha": [
        ("small.ach", "\n".join(r.ljust(94) for r in (
            "101 091000019 1234567892501020600A094101DEST BANK              ORIGIN CO              REF00001",
            "5220ACME CORP                           1234567890CTXPAYMENT   250102250102   1091000010000001",
            "622091000019123456789        0000012345C-1            0001US                1091000010000001",
            ("705ISA*00*          *00*          *ZZ*X*ZZ*Y*250102*0600*U*00401*000000001*0*P*>~ST*820*0001~")[:83]
            + "00010000001",
            "705BPR*C*123.45*C*ACH~TRN*1*T1~RMR*IV*INV-1001**123.45~SE*4*0001~".ljust(83) + "00020000001",
            "822000000300091000010000000000000000012345123456789                          091000010000001",
            "9000001000001000000030009100001000000000000000000012345",
        )) + "\n"),
    ],
    "camt": [
        ("small.xml", '<?xml version="1.0" encoding="UTF-8"?>\n'
                      '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">\n<BkToCstmrStmt>\n'
                      "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2025-01-02T06:00:00</CreDtTm></GrpHdr>\n<Stmt>\n"
                      "<Id>S1</Id>\n<CreDtTm>2025-01-02T06:00:00</CreDtTm>\n"
                      "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
                      '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>'
                      "<CdtDbtInd>CRDT</CdtDbtInd></Bal>\n"
                      '<Ntry>\n<Amt Ccy="EUR">30.00</Amt>\n<CdtDbtInd>CRDT</CdtDbtInd>\n<Sts><Cd>BOOK</Cd></Sts>\n'
                      "<BookgDt><Dt>2025-01-02</Dt></BookgDt>\n<ValDt><Dt>2025-01-02</Dt></ValDt>\n"
                      "<AcctSvcrRef>REF1</AcctSvcrRef>\n"
                      "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
                      "</BkTxCd>\n<NtryDtls>\n<TxDtls>\n<Refs><EndToEndId>E2E</EndToEndId></Refs>\n"
                      '<AmtDtls><TxAmt><Amt Ccy="EUR">10.00</Amt></TxAmt></AmtDtls>\n'
                      "<RltdPties><Dbtr><Nm>ACME</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02</IBAN></Id></DbtrAcct>"
                      "</RltdPties>\n<RmtInf><Ustrd>INV 1</Ustrd><Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd>"
                      "</CdOrPrtry></Tp><Nb>INV-1</Nb></RfrdDocInf><RfrdDocAmt>"
                      '<RmtdAmt Ccy="EUR">10.00</RmtdAmt><DscntApldAmt><Amt Ccy="EUR">1.00</Amt></DscntApldAmt>'
                      '<AdjstmntAmtAndRsn><Amt Ccy="EUR">2</Amt><Rsn>DAM</Rsn></AdjstmntAmtAndRsn></RfrdDocAmt>'
                      "</Strd></RmtInf>\n</TxDtls>\n<TxDtls>\n"
                      '<AmtDtls><TxAmt><Amt Ccy="EUR">20.00</Amt></TxAmt></AmtDtls>\n'
                      "<CdtDbtInd>CRDT</CdtDbtInd>\n</TxDtls>\n</NtryDtls>\n</Ntry>\n"
                      '<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">130.00</Amt>'
                      "<CdtDbtInd>CRDT</CdtDbtInd></Bal>\n</Stmt>\n</BkToCstmrStmt>\n</Document>\n"),
    ],
}


# --- choosers -----------------------------------------------------------------------------------------------

class RandomChooser:
    """Choices from a seeded random.Random: the benchmark's fast engine."""

    def __init__(self, rng):
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq: Sequence):
        return seq[self.rng.randrange(len(seq))]

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def raw_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class DrawChooser:
    """Choices drawn from Hypothesis (st.data()), so that a failing input shrinks."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data = data
        self.st = st

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq: Sequence):
        return seq[self.integer(0, len(seq) - 1)]

    def boolean(self) -> bool:
        return self.data.draw(self.st.booleans())

    def raw_bytes(self, n: int) -> bytes:
        return self.data.draw(self.st.binary(min_size=n, max_size=n))


# --- hostile values -----------------------------------------------------------------------------------------

# Text is handled as str decoded with surrogateescape, so "\udcff" is the raw byte 0xFF: invalid UTF-8.
HOSTILE = (
    "", " ", "NaN", "-NaN", "sNaN", "nan", "Infinity", "-Infinity", "inf", "1e999999", "-1E-999999", "9E+999999",
    "1e14", "0E+1000", "-0", "+0", "-0.00", "1_000", "1 000", "0x10", "1,2,3", "1.2.3", "..", ",", "+-1", "--1",
    "-1", "+1", "١٢٣", "²", "³", "Ⅻ", "٣.٥", "9" * 30, "9" * 400, "9" * 5000, "-" + "9" * 20, "0" * 20,
    "99999999999999999999.999999", "0.00001", "123.456", ".5", "5.", "1e5", "1E-5",
    "000000", "991231", "250230", "20250230", "2025-02-30", "9999-99-99", "0000-00-00", "2025-01-02T25:00:00",
    "-999999999", "\x00", "\x00" * 5, "\x01\x02\x03", "\x1a", "\x7f", "\x1b[2J", "\t", "\r", "\n", "\r\n",
    "\u2028", "\u0085", "\x0b\x0c", "\ufeff", "\u202e", "\U0001f4b8", "\udcff\udcfe", "\udcc3", "\udce2\udc82",
    "A" * 10000, "é" * 300, "Z" * 200, "%s%n%x", "../../etc/passwd", "'; DROP TABLE payments; --",
    "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "&amp;", "&lt;", "&#0;", "&#xFFFE;", "]]>",
    "<", ">", "/", "//", ",", "*", "~", ":", "?", "'", '"', "\\", "{", "}", "{1:", "-}", ":20:", ":61:", "?20",
    "NONREF", "USD", "EUR", "XXXX", "usd", "US", "€", "CRDT", "DBIT", "BOOK", "PDNG", "true", "C", "D", "RC", "RD",
    "01", "02", "03", "16", "49", "88", "98", "99", "ST", "SE", "BPR", "RMR", "ADX", "ISA",
)
_NUMERIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?$")
TYPE_CODES = {
    "bai2": ("01", "02", "03", "16", "49", "88", "98", "99", "010", "015", "040", "100", "142", "195", "301",
             "399", "400", "451", "699", "700", "999", "000", "S", "V", "D", "Z", "0", "1", "2"),
    "mt940": (":20:", ":25:", ":28C:", ":60F:", ":60M:", ":61:", ":86:", ":62F:", ":62M:", ":34F:", ":13D:",
              ":90D:", ":90C:", "C", "D", "RC", "RD", "EC", "ED", "NTRF", "NCHK", "?20", "?32", "/NAME/",
              "/REMI/", "/CNTP/", "SVWZ+", "EREF+"),
    "camt": ("CRDT", "DBIT", "BOOK", "PDNG", "INFO", "OPBD", "CLBD", "PRCD", "true", "false", "CINV", "CREN",
             "PMNT", "RCDT", "ESCT", "LBOX", "NOTPROVIDED"),
    "lockbox": ("1", "2", "4", "5", "6", "7", "8", "9", "3", "0"),
    "nacha": ("1", "5", "6", "7", "8", "9", "22", "27", "32", "05", "99", "98", "CTX", "CCD", "PPD", "000000"),
    "x12_820": ("ISA", "GS", "ST", "SE", "GE", "IEA", "BPR", "TRN", "CUR", "N1", "NTE", "ENT", "RMR", "ADX",
                "DTM", "820", "812", "PR", "PE", "IV", "CM", "C", "D", "ACH", "CHK", "097"),
    "x12_812": ("ISA", "GS", "ST", "SE", "BCD", "N1", "CDD", "812", "820", "BY", "C", "D", "X"),
    "csv": ("EUR", "USD", "", "-", "Buchungstag", "Betrag", "date", "credit", "debit"),
}
XML_TAGS = ("Document", "BkToCstmrStmt", "BkToCstmrAcctRpt", "BkToCstmrDbtCdtNtfctn", "GrpHdr", "Stmt", "Rpt",
            "Ntfctn", "Id", "Acct", "IBAN", "Othr", "Ccy", "Bal", "Tp", "CdOrPrtry", "Cd", "Amt", "CdtDbtInd",
            "Ntry", "Sts", "BookgDt", "ValDt", "Dt", "DtTm", "AcctSvcrRef", "NtryRef", "NtryDtls", "TxDtls",
            "AmtDtls", "TxAmt", "RltdPties", "Dbtr", "Nm", "RmtInf", "Ustrd", "Strd", "RfrdDocInf", "Nb",
            "RfrdDocAmt", "RmtdAmt", "O2cNtryRun", "CreDtTm", "FrToDt", "ToDtTm", "RvslInd", "BkTxCd")
XML_ATTACKS = (
    '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>',
    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE d SYSTEM "http://127.0.0.1:1/evil.dtd">',
    '<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]>',
    "<!ENTITY e 'x'>", "<! DOCTYPE x>", "<!doctype x>", "<!-- comment -->", "<![CDATA[<Ntry>]]>",
    "<?pi data?>", "<?xml version='1.0'?>", "&c;", "&x;", "&e;", "&#1;", "&#x110000;", "&#65;", "&unknown;",
    "<Ntry>", "</Ntry>", "<Ntry/>", "<Ntry >", "</Ntry >", "<p:Ntry>", "</p:Ntry>", "<O2cNtryRun/>",
    "<Stmt>", "</Stmt>", "xmlns=\"\"", "xmlns:p=\"urn:x\"", "<Document xmlns=\"urn:other\">",
)
ENCODINGS = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1", "cp500", "utf-7", "shift_jis")
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00", b"\xef\xbb\xbf\xef\xbb\xbf", b"\x00")


# --- splitting a file into the units its parser reads -------------------------------------------------------

_LINES = re.compile(r"(?<=\n)")
_SEGMENTS = re.compile(r"(?<=[~\n])")
_FIELD_SEPS = {
    "bai2": re.compile(r"([,/])"),
    "mt940": re.compile(r"(:\w{2,3}:|\?\d\d|/[A-Z]{2,8}/|//|[+])"),
    "camt": re.compile(r"(<[^<>]*>|\"|=)"),
    "x12_820": re.compile(r"([*|^>~:\\])"),
    "x12_812": re.compile(r"([*|^>~:\\])"),
    "csv": re.compile(r"([,;\"])"),
}
# Column boundaries of the fixed-width formats (the union over their record types).
_COLUMNS = {
    "nacha": (0, 1, 3, 4, 6, 7, 10, 11, 12, 13, 14, 20, 21, 23, 29, 31, 32, 35, 39, 40, 43, 44, 50, 53, 54, 55,
              58, 63, 69, 74, 75, 76, 78, 79, 83, 87, 94),
    "lockbox": (0, 1, 4, 7, 11, 13, 14, 17, 20, 23, 24, 26, 33, 34, 36, 41, 46, 52, 82, 104),
}


def records_of(fmt: str, text: str) -> list[str]:
    pieces = (_SEGMENTS if fmt.startswith("x12") else _LINES).split(text)
    return [p for p in pieces if p]


def fields_of(fmt: str, record: str) -> list[str]:
    """Alternating field, separator, field ... (a fixed-width record: its columns, with empty separators)."""
    if fmt in _COLUMNS:
        cols = [c for c in _COLUMNS[fmt] if c < len(record)] + [len(record)]
        out = []
        for a, b in zip(cols, cols[1:], strict=False):
            out += [record[a:b], ""]
        return out[:-1] or [record]
    return _FIELD_SEPS[fmt].split(record)


# --- mutators -----------------------------------------------------------------------------------------------

def _hostile(c) -> str:
    if c.integer(0, 7) == 0:  # now and then a value of hostile pieces, built on the spot
        return "".join(c.choice(HOSTILE) for _ in range(c.integer(2, 4)))
    return c.choice(HOSTILE)


def _pick_record(c, recs: list[str]) -> int:
    return c.integer(0, len(recs) - 1)


def m_delete_record(c, fmt, recs, seeds):
    if len(recs) > 1:
        del recs[_pick_record(c, recs)]


MAX_INPUT = 2_000_000
MAX_GROWTH = 100_000  # bytes one mutation may add, so that stacked mutations stay cheap to parse


def _copies(c, unit: str) -> int:
    return min(c.choice((1, 1, 2, 5, 200)), max(1, MAX_GROWTH // max(len(unit), 1)))


def m_duplicate_record(c, fmt, recs, seeds):
    i = _pick_record(c, recs)
    recs[i:i] = [recs[i]] * _copies(c, recs[i])


def m_swap_records(c, fmt, recs, seeds):
    i, j = _pick_record(c, recs), _pick_record(c, recs)
    recs[i], recs[j] = recs[j], recs[i]


def m_move_record(c, fmt, recs, seeds):
    rec = recs.pop(_pick_record(c, recs))
    recs.insert(c.integer(0, len(recs)), rec)


def m_foreign_record(c, fmt, recs, seeds):
    """A record of another file of the same format (or of another format) put anywhere."""
    other_fmt = fmt if c.integer(0, 3) else c.choice(FORMATS)
    other = records_of(other_fmt, _text(c.choice(seeds.get(other_fmt) or seeds[fmt])[1]))
    recs.insert(c.integer(0, len(recs)), c.choice(other))


def m_truncate_record(c, fmt, recs, seeds):
    i = _pick_record(c, recs)
    recs[i] = recs[i][:c.integer(0, len(recs[i]))]


def m_hostile_record(c, fmt, recs, seeds):
    recs[_pick_record(c, recs)] = _hostile(c) + c.choice(("\n", "~", "", "\r\n"))


def _field_edit(c, fmt, recs, edit: Callable[[object, str], str]):
    i = _pick_record(c, recs)
    parts = fields_of(fmt, recs[i])
    k = 2 * c.integer(0, (len(parts) - 1) // 2)
    parts[k] = edit(c, parts[k])
    recs[i] = "".join(parts)


def m_hostile_field(c, fmt, recs, seeds):
    def edit(c, old):
        new = _hostile(c)
        if fmt in _COLUMNS and c.boolean():  # keep the record's width, as a fixed-width writer would
            new = new[:len(old)].ljust(len(old)) if c.boolean() else new[:len(old)].rjust(len(old), "0")
        return new
    _field_edit(c, fmt, recs, edit)


def m_number_field(c, fmt, recs, seeds):
    """Counts, totals and amounts made wrong: off by one, times ten, negated, enormous, emptied."""
    def edit(c, old):
        core = old.strip()
        if not _NUMERIC.match(core):
            return old
        digits = re.sub(r"\D", "", core) or "0"
        choice = c.integer(0, 7)
        if choice == 0:
            return str(int(digits[:18]) + c.choice((1, -1, 10**9)))
        if choice == 1:
            return core + "0" * c.choice((1, 3, 30))
        if choice == 2:
            return ("-" + core) if not core.startswith("-") else core[1:]
        if choice == 3:
            return "9" * len(core)
        if choice == 4:
            return " " * len(old)
        if choice == 5:
            return core.replace(".", ",") if "." in core else core.replace(",", ".")
        if choice == 6:
            return core + c.choice(("e999999", "E-999999", ".", ",", "-", "e5"))
        return "0" * len(old)
    _field_edit(c, fmt, recs, edit)


def m_type_code(c, fmt, recs, seeds):
    _field_edit(c, fmt, recs, lambda c, old: c.choice(TYPE_CODES[fmt]))


def m_delete_field(c, fmt, recs, seeds):
    i = _pick_record(c, recs)
    parts = fields_of(fmt, recs[i])
    if len(parts) > 2:
        k = 2 * c.integer(0, (len(parts) - 2) // 2)
        del parts[k:k + 2]
    recs[i] = "".join(parts)


def m_duplicate_field(c, fmt, recs, seeds):
    i = _pick_record(c, recs)
    parts = fields_of(fmt, recs[i])
    if len(parts) > 2:
        k = 2 * c.integer(0, (len(parts) - 2) // 2)
        parts[k:k] = parts[k:k + 2] * _copies(c, parts[k] + parts[k + 1])
    recs[i] = "".join(parts)


def m_control_char(c, fmt, recs, seeds):
    i = _pick_record(c, recs)
    pos = c.integer(0, len(recs[i]))
    char = c.choice(("\x00", "\x01", "\x1a", "\x7f", "\r", "\x0b", "\udcff", "\ufeff"))
    recs[i] = recs[i][:pos] + char + recs[i][pos:]


def m_line_endings(c, fmt, recs, seeds):
    new = c.choice(("\r\n", "\r", "", "\n\n", "\x85", "\u2028", "\x0c"))
    for i, rec in enumerate(recs):
        recs[i] = rec.replace("\r\n", "\n").replace("\n", new)


def m_xml_nesting(c, fmt, recs, seeds):
    """Deep nesting (thousands of levels) of a known or unknown element, closed or not."""
    depth = c.choice((50, 50, 1000, 1000, 20000, 100000 if c.integer(0, 9) == 0 else 5000))
    tag = c.choice(XML_TAGS)
    close = c.integer(0, 3) != 0
    chunk = f"<{tag}>" * depth + (f"</{tag}>" * depth if close else "")
    i = _pick_record(c, recs)
    recs.insert(i, chunk)


def m_xml_attack(c, fmt, recs, seeds):
    i = c.integer(0, min(2, len(recs) - 1)) if c.boolean() else _pick_record(c, recs)
    recs.insert(i, c.choice(XML_ATTACKS))


def m_xml_tag(c, fmt, recs, seeds):
    """Rename one tag (the closing one no longer matches), drop a namespace, or add an attribute."""
    i = _pick_record(c, recs)
    tags = list(re.finditer(r"<(/?)([\w:.-]+)([^<>]*)>", recs[i]))
    if not tags:
        return
    m = c.choice(tags)
    how = c.integer(0, 3)
    if how == 0:
        new = f"<{m[1]}{c.choice(XML_TAGS)}{m[3]}>"
    elif how == 1:
        new = f"<{m[1]}{m[2].split(':')[-1]}>"
    elif how == 2:
        new = f"<{m[1]}{m[2]} Ccy=\"{_hostile(c)}\"{m[3]}>"
    else:
        new = f"<{m[1]}{m[2]}{m[3]} {c.choice(('Ccy', 'xmlns', 'a'))}=\"1\" {c.choice(('Ccy', 'xmlns', 'a'))}=\"2\">"
    recs[i] = recs[i][:m.start()] + new + recs[i][m.end():]


RECORD_MUTATORS = (
    m_delete_record, m_duplicate_record, m_swap_records, m_move_record, m_foreign_record, m_truncate_record,
    m_hostile_record, m_hostile_field, m_hostile_field, m_hostile_field, m_number_field, m_number_field,
    m_type_code, m_type_code, m_delete_field, m_duplicate_field, m_control_char, m_line_endings,
)
XML_MUTATORS = (m_xml_nesting, m_xml_attack, m_xml_attack, m_xml_tag, m_xml_tag)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def byte_damage(c, data: bytes) -> bytes:
    """Damage below the record level: truncation anywhere, flipped or inserted bytes, BOMs, re-encoding."""
    how = c.integer(0, 6)
    if how == 0:
        return data[:c.integer(0, len(data))]
    if how == 1 and data:
        pos = c.integer(0, len(data) - 1)
        return data[:pos] + bytes([data[pos] ^ (1 << c.integer(0, 7))]) + data[pos + 1:]
    if how == 2:
        pos = c.integer(0, len(data))
        return data[:pos] + c.raw_bytes(c.integer(1, 16)) + data[pos:]
    if how == 3:
        return c.choice(BOMS) + data
    if how == 4:
        return _text(data).encode(c.choice(ENCODINGS), "replace")
    if how == 5 and data:
        a = c.integer(0, len(data) - 1)
        return data[:a] + data[a + c.integer(1, 64):]
    return data + c.raw_bytes(c.integer(1, 32))


PREFIXES = (b"", b"01,", b"<?xml version='1.0'?><Document><BkToCstmrStmt>", b"<camt.053", b":20:X\n:25:Y\n",
            b"{1:", b"ISA*", b"ISA", b"1" + b"0" * 33 + b"094", b"100", b"\xef\xbb\xbf<")


def random_bytes(c) -> bytes:
    """Pure random bytes, now and then behind a format's first bytes so that detection lets them through."""
    return c.choice(PREFIXES) + c.raw_bytes(c.integer(0, c.choice((16, 256, 2048))))


def mutate(c, fmt: str, seeds: dict[str, list[tuple[str, bytes]]]) -> bytes:
    """One input of a format: a seed file with one to four structured mutations, or random bytes."""
    if c.integer(0, 19) == 0:
        return random_bytes(c)
    _name, data = c.choice(seeds[fmt])
    recs = records_of(fmt, _text(data)) or [""]
    mutators = RECORD_MUTATORS + (XML_MUTATORS if fmt == "camt" else ())
    for _ in range(c.integer(1, 4)):
        c.choice(mutators)(c, fmt, recs, seeds)
        if not recs:
            recs = [""]
    out = _bytes("".join(recs))[:MAX_INPUT]
    if c.integer(0, 5) == 0:
        out = byte_damage(c, out)
    return out


# --- seeds and the contract ---------------------------------------------------------------------------------

def load_seeds(max_bytes: int = 64_000) -> dict[str, list[tuple[str, bytes]]]:
    """The shared fixtures by format (files up to max_bytes, so one input stays cheap) plus our own seeds."""
    seeds = {fmt: [(name, text.encode()) for name, text in BUILTIN_SEEDS.get(fmt, [])] for fmt in FORMATS}
    root = FIXTURES
    for fmt, dirs in FIXTURE_DIRS.items():
        for d in dirs:
            for path in sorted((root / d).rglob("*")) if (root / d).is_dir() else []:
                if path.is_file() and path.stat().st_size <= max_bytes:
                    seeds[fmt].append((str(path.relative_to(root)), path.read_bytes()))
    return seeds


_DIRECT = {"bai2": bai2.parse, "camt": camt.parse, "mt940": mt940.parse, "lockbox": lockbox.parse,
           "nacha": nacha.parse, "x12_820": x12_820.parse}


def _consume(stream) -> int:
    n = 0
    for item in stream:
        n += 1 if not isinstance(item, list) else len(item)
    return n + len(stream.remittances) + len(stream.warnings) + len(stream.file_hash)


def _mappings(data: bytes) -> tuple[CsvMapping, CsvMapping]:
    """The mapping that fits a CSV input's header first, the other one second."""
    german = b"Buchungstag" in data[:200]
    return (CSV_MAPPING, CSV_PAIR_MAPPING) if german else (CSV_PAIR_MAPPING, CSV_MAPPING)


def parse_directly(fmt: str, data: bytes) -> object:
    """The format's own parser, without detection (a CSV input gets the mapping that does not fit it)."""
    if fmt == "x12_812":
        return x12_812.parse(data)
    if fmt == "csv":
        return csv_mapped.parse(data, _mappings(data)[1], [])
    return _DIRECT[fmt](data, [])


def run_parsers(fmt: str, data: bytes) -> bool:
    """True when the public dispatch accepted the input, False when it refused it with BankFileError. The input
    goes through the dispatch (stream_bank_file, consumed to the end) and the format's own parser; whatever
    either raises other than BankFileError propagates: that is a crash. (X12 812 has no dispatch.)"""
    steps: list[Callable[[], object]] = [lambda: parse_directly(fmt, data)]
    if fmt == "csv":
        steps.insert(0, lambda: _consume(stream_bank_file(data, csv_mapping=_mappings(data)[0])))
    elif fmt != "x12_812":
        steps.insert(0, lambda: _consume(stream_bank_file(data, file_name=f"upload.{fmt}")))
    outcomes = []
    for step in steps:
        try:
            step()
            outcomes.append(True)
        except BankFileError:
            outcomes.append(False)
    return outcomes[0]


def crash_signature(fmt: str, data: bytes) -> str | None:
    """None when the contract holds for data; else the exception type and the innermost parser line raising it."""
    try:
        run_parsers(fmt, data)
    except Exception as exc:  # noqa: BLE001 - any escape is what we look for
        return signature_of(exc)
    return None


def signature_of(exc: BaseException) -> str:
    tb = exc.__traceback__
    where = "?"
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if "payments" in path or "parsers" in path:
            where = f"{Path(path).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{type(exc).__name__}@{where}"


def minimise(fmt: str, data: bytes, signature: str, budget: int = 400) -> bytes:
    """A smaller input with the same crash signature: drop chunks of lines, then of bytes (ddmin, bounded)."""
    def same(candidate: bytes) -> bool:
        return crash_signature(fmt, candidate) == signature

    for unit in ("lines", "bytes"):
        pieces = data.splitlines(keepends=True) if unit == "lines" else [bytes([b]) for b in data]
        if len(pieces) > 4000:  # byte-level ddmin of a big input is not worth the budget
            continue
        size = max(len(pieces) // 2, 1)
        while size >= 1 and budget > 0:
            i = 0
            while i < len(pieces) and budget > 0:
                candidate = pieces[:i] + pieces[i + size:]
                budget -= 1
                if candidate and same(b"".join(candidate)):
                    pieces = candidate
                else:
                    i += size
            size //= 2
        data = b"".join(pieces)
    return data
