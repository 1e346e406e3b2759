"""Bank and remittance file parsers: every conformance fixture imports or is refused as expected, plus the
format rules that cash application depends on. Pure parsing: no database."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from payments.parsers import (
    CREDIT,
    DEBIT,
    BankFileError,
    CsvMapping,
    ParsedFile,
    detect_format,
    parse_bank_file,
    stream_bank_file,
)


def _shared_fixtures() -> Path:
    """O2C_SHARED_DIR when set, else ../shared next to the checkout, else ../shared next to the checkout this one
    was cloned from (a clean clone in a temporary directory, as CI makes, has no ../shared of its own: it
    skipped every file once)."""
    if os.environ.get("O2C_SHARED_DIR"):
        return Path(os.environ["O2C_SHARED_DIR"]) / "fixtures" / "bank-files"
    checkout = Path(__file__).resolve().parents[1]
    candidates = [checkout.parent / "shared"]
    origin = subprocess.run(["git", "-C", str(checkout), "config", "--get", "remote.origin.url"],
                            capture_output=True, text=True, check=False).stdout.strip()
    if origin and "://" not in origin and Path(origin).is_dir():  # a local clone: its source's neighbour
        candidates.append(Path(origin).resolve().parent / "shared")
    for shared in candidates:
        if (shared / "fixtures" / "bank-files").is_dir():
            return shared / "fixtures" / "bank-files"
    return candidates[0] / "fixtures" / "bank-files"


FIXTURES = _shared_fixtures()
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "SOURCES.md") if FIXTURES.is_dir() \
    else []

# Files that must be refused, with the words the message must contain. Everything else must parse, so a
# regression from "parses" to "refused" (or the reverse) fails.
REFUSED = {
    "mt940/WoLpH__mt940/currency_in_25.sta": "a fragment, not a statement",
    "mt940/WoLpH__mt940/missing_crlf_at_end.sta": "a fragment, not a statement",
    "mt940/WoLpH__mt940/sparkassen.sta": "a fragment, not a statement",
    "nacha/moov-io__ach/bh-ed-ad-bh-ed-ad-ed-ad.ach": "without the 1 file header",
    "x12_820/Inteligenz__X12Parser/Example3_HomeDepot.txt":
        "line 4: BPR02 payment amount 'TOTAL DOLLAR AMT OF CHECK' is not a number",
}
# Files that parse but whose trailers or balances disagree: the warning must say so.
EXPECTED_WARNINGS = {
    "bai2/venturehacks__bai2/invalid_checksum_eod.bai2": "control total 8325983 does not match the records (8325982)",
    "bai2/venturehacks__bai2/daily_with_missing_continuation.bai2": "number of records 7 does not match the file (6)",
    "nacha/moov-io__ach/20110805A.ach": "file control says 5 batches, the file has 4",
}
FORMAT_BY_DIR = {"bai2": "bai2", "camt052": "camt.052", "camt053": "camt.053", "camt054": "camt.054",
                 "lockbox": "lockbox", "nacha": "nacha", "x12_820": "x12_820"}


def _fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not found under {FIXTURES}")
    return path.read_bytes()


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared bank-file fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_imports_or_is_refused_as_expected(path):
    name = str(path.relative_to(FIXTURES))
    data = path.read_bytes()
    if name in REFUSED:
        with pytest.raises(BankFileError) as exc:
            parse_bank_file(data, file_name=path.name)
        assert REFUSED[name] in str(exc.value)
        return
    parsed = parse_bank_file(data, file_name=path.name)
    folder = name.split("/", 1)[0]
    if folder == "mt940":
        assert parsed.format in ("mt940", "mt942")
    else:
        assert parsed.format == FORMAT_BY_DIR[folder]
    _sanity(parsed)
    if name in EXPECTED_WARNINGS:
        assert any(EXPECTED_WARNINGS[name] in w for w in parsed.warnings), parsed.warnings
    # Determinism: a second parse gives the same references (the exactly-once key) and the same result.
    assert parse_bank_file(data, file_name=path.name) == parsed


def _sanity(parsed: ParsedFile) -> None:
    assert parsed.statements or parsed.remittances or parsed.format in ("nacha", "lockbox")
    refs = [e.bank_reference for e in parsed.entries]
    assert all(refs), "every entry has a bank reference"
    assert len(refs) == len(set(refs)), "bank references are unique within a file"
    ids = [s.statement_id for s in parsed.statements]
    assert len(ids) == len(set(ids))
    for statement in parsed.statements:
        assert statement.statement_id and statement.account
        for balance in (statement.opening_balance, statement.closing_balance):
            assert balance is None or isinstance(balance, Decimal)
        if statement.opening_balance is not None and statement.closing_balance is not None:
            net = sum((e.amount if e.direction == CREDIT else -e.amount for e in statement.entries), Decimal(0))
            if statement.opening_balance + net != statement.closing_balance:
                assert any(statement.statement_id in w and "!= closing" in w for w in parsed.warnings)
    for entry in parsed.entries:
        assert isinstance(entry.amount, Decimal) and entry.amount >= 0
        assert entry.direction in (CREDIT, DEBIT)
        assert entry.value_date is None or isinstance(entry.value_date, date)
        assert isinstance(entry.booking_date, date)
        assert entry.currency and len(entry.currency) == 3
        assert entry.raw and entry.source_line
    for advice in parsed.remittances:
        assert advice.payment_reference
        assert advice.payment_amount is None or isinstance(advice.payment_amount, Decimal)
        assert advice.raw


# --- BAI2 ---------------------------------------------------------------------------------------------------

BAI2 = """01,BANKUS33,O2C,250102,0600,7,,,2/
02,O2C,BANKUS33,1,250101,2400,USD,2/
03,1234567890,USD,010,100000,,,015,160000,,/
16,195,50000,Z,BR1,CR1,WIRE FROM ACME/
88,ORG:=ACME CORP
88,OBI:=INV 1001
16,142,10000,Z,BR2,CR2,ACH/ 16,142,0,Z,BR3,CR3,ZERO/
49,{total},{count}/
98,{total},1,{group_count}/
99,{total},1,{file_count}/
"""


def _bai2(total=320000, count=7, group_count=9, file_count=11) -> bytes:
    return BAI2.format(total=total, count=count, group_count=group_count, file_count=file_count).encode()


def test_bai2_continuations_and_several_records_on_one_line():
    parsed = parse_bank_file(_bai2())
    assert parsed.format == "bai2"
    assert parsed.warnings == ()
    [statement] = parsed.statements
    assert statement.opening_balance == Decimal("1000.00")
    assert statement.closing_balance == Decimal("1600.00")
    wire, ach, zero = statement.entries
    assert (wire.bank_reference, wire.amount, wire.channel) == ("BR1", Decimal("500.00"), "wire")
    assert wire.payer_name == "ACME CORP"
    assert wire.unstructured == "INV 1001"
    assert wire.raw.count("\n") == 2, "the 88 continuations are part of the raw record"
    assert (ach.bank_reference, ach.amount, ach.source_line) == ("BR2", Decimal("100.00"), "7")
    assert (zero.bank_reference, zero.source_line) == ("BR3", "7")
    assert wire.value_date == date(2025, 1, 1)


def test_bai2_wrong_trailer_totals_are_warnings_not_errors():
    parsed = parse_bank_file(_bai2(total=999, count=8))
    assert len(parsed.entries) == 3
    assert any("49 trailer of account 1234567890 control total 999 does not match the records (320000)" in w
               for w in parsed.warnings)
    assert any("number of records 8 does not match the file (7)" in w for w in parsed.warnings)


def test_bai2_bad_amount_names_the_line():
    data = _bai2().replace(b"16,142,10000,", b"16,142,1O000,")
    with pytest.raises(BankFileError, match=r"^line 7: 16 record amount '1O000' is not a number$"):
        parse_bank_file(data)


def test_bai2_truncated_file_is_refused():
    data = b"\n".join(_bai2().splitlines()[:7])
    with pytest.raises(BankFileError, match="line 7: file ends without its 49 account trailer"):
        parse_bank_file(data)


def test_bai2_missing_header_is_not_recognised():
    data = b"\n".join(_bai2().splitlines()[1:])
    with pytest.raises(BankFileError, match="not a recognised bank file"):
        parse_bank_file(data)


def test_bai2_blank_bank_reference_gets_a_stable_derived_one():
    data = _bai2().replace(b",BR2,", b",,")
    first = parse_bank_file(data).entries[1].bank_reference
    assert first == "BANKUS33:2501020600:7/1/1234567890/2"
    assert parse_bank_file(data).entries[1].bank_reference == first


# --- camt ---------------------------------------------------------------------------------------------------

CAMT053 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">
<BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2025-01-02T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>STMT-1</Id><CreDtTm>2025-01-02T06:00:00</CreDtTm>
<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>2025-01-01</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">400.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Dt><Dt>2025-01-01</Dt></Dt></Bal>
<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2025-01-01</Dt></BookgDt><ValDt><Dt>2025-01-02</Dt></ValDt><AcctSvcrRef>ASR-1</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
<TxDtls><Refs><EndToEndId>E2E-A</EndToEndId></Refs><Amt Ccy="EUR">200.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Nm>Acme GmbH</Nm></Dbtr><DbtrAcct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></DbtrAcct>
</RltdPties>
<RmtInf><Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd></CdOrPrtry></Tp><Nb>INV-1</Nb></RfrdDocInf>
<RfrdDocAmt><DuePyblAmt Ccy="EUR">204.00</DuePyblAmt><DscntApldAmt Ccy="EUR">4.00</DscntApldAmt>
<RmtdAmt Ccy="EUR">200.00</RmtdAmt></RfrdDocAmt></Strd></RmtInf></TxDtls>
<TxDtls><Refs><AcctSvcrRef>TX-OWN-REF</AcctSvcrRef></Refs><Amt Ccy="EUR">100.00</Amt>
<CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Dbtr><Pty><Nm>Globex</Nm></Pty></Dbtr></RltdPties>
<RmtInf><Ustrd>Payment invoice 4711</Ustrd></RmtInf></TxDtls>
</NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


def test_camt053_batch_booking_becomes_one_entry_per_transaction():
    parsed = parse_bank_file(CAMT053.format(version="08").encode())
    assert parsed.format == "camt.053"
    assert parsed.warnings == ()
    [statement] = parsed.statements
    assert (statement.statement_id, statement.account, statement.currency) == \
        ("STMT-1", "DE89370400440532013000", "EUR")
    first, second = statement.entries
    assert first.bank_reference == "ASR-1/1", "no own AcctSvcrRef: entry reference / index"
    assert second.bank_reference == "TX-OWN-REF", "the TxDtls' own AcctSvcrRef wins"
    assert (first.amount, second.amount) == (Decimal("200.00"), Decimal("100.00"))
    assert first.channel == "ach" and first.value_date == date(2025, 1, 2)
    assert (first.payer_name, first.payer_account, first.end_to_end_id) == \
        ("Acme GmbH", "FR7630006000011234567890189", "E2E-A")
    assert second.payer_name == "Globex", "v8 puts the name under Pty"
    [item] = first.remittance
    assert (item.reference, item.reference_type) == ("INV-1", "invoice")
    assert (item.amount_paid, item.gross_amount, item.discount) == (Decimal("200.00"), Decimal("204.00"),
                                                                    Decimal("4.00"))
    assert second.remittance == () and second.unstructured == "Payment invoice 4711"
    assert "<Ntry>" in first.raw and first.source_line.startswith("BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[1]")


def test_camt_batch_parts_that_do_not_add_up_are_a_warning():
    data = CAMT053.format(version="02").replace('<Amt Ccy="EUR">300.00</Amt>', '<Amt Ccy="EUR">350.00</Amt>')
    parsed = parse_bank_file(data.encode())
    assert any("batch booking of 350.00 EUR but its TxDtls add up to 300.00" in w for w in parsed.warnings)


def test_camt054_notification():
    data = CAMT053.format(version="04").replace("camt.053", "camt.054").replace("BkToCstmrStmt",
                                                                              "BkToCstmrDbtCdtNtfctn")
    data = data.replace("<Stmt>", "<Ntfctn>").replace("</Stmt>", "</Ntfctn>")
    parsed = parse_bank_file(data.encode())
    assert parsed.format == "camt.054"
    assert [e.amount for e in parsed.entries] == [Decimal("200.00"), Decimal("100.00")]


def test_camt_missing_currency_names_the_element():
    data = CAMT053.format(version="08").replace('<Amt Ccy="EUR">300.00</Amt>', "<Amt>300.00</Amt>")
    with pytest.raises(BankFileError, match=r"^element BkToCstmrStmt/Stmt\[1\]/Ntry\[1\]/Amt: missing Ccy$"):
        parse_bank_file(data.encode())


def test_camt_truncated_xml_names_the_line():
    data = CAMT053.format(version="08").encode()[:1200]
    with pytest.raises(BankFileError, match=r"^line \d+: XML is not well-formed"):
        parse_bank_file(data)


def test_camt_with_entity_declarations_is_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>&b;</BkToCstmrStmt>'
            b"</Document>")
    with pytest.raises(BankFileError, match="DTD or entity declarations is refused"):
        parse_bank_file(bomb)



def _camt_statement(n: int, prefix: str = "", statements: int = 1) -> bytes:
    """n entries in each of several statements, the camt elements under prefix (e.g. "camt:")."""
    p = prefix
    entry = (f"<{p}Ntry><{p}Amt Ccy=\"EUR\">{{amount}}</{p}Amt><{p}CdtDbtInd>CRDT</{p}CdtDbtInd>"
             f"<{p}Sts><{p}Cd>BOOK</{p}Cd></{p}Sts><{p}BookgDt><{p}Dt>2025-01-01</{p}Dt></{p}BookgDt>"
             f"<{p}AcctSvcrRef>R{{s}}-{{i}}</{p}AcctSvcrRef><{p}NtryDtls><{p}TxDtls><{p}RmtInf>"
             f"<{p}Ustrd>INV-{{i}}</{p}Ustrd></{p}RmtInf></{p}TxDtls></{p}NtryDtls></{p}Ntry>\n")
    xmlns = f"xmlns:{p[:-1]}" if p else "xmlns"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<{p}Document {xmlns}="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><{p}BkToCstmrStmt>\n']
    for s in range(1, statements + 1):
        parts.append(f"<{p}Stmt><{p}Id>S{s}</{p}Id><{p}Acct><{p}Id><{p}IBAN>DE89370400440532013000</{p}IBAN>"
                     f"</{p}Id><{p}Ccy>EUR</{p}Ccy></{p}Acct>\n")
        parts += [entry.format(amount=f"{i + 1}.00", s=s, i=i) for i in range(n)]
        parts.append(f"</{p}Stmt>\n")
    parts.append(f"</{p}BkToCstmrStmt></{p}Document>\n")
    return "".join(parts).encode()


def _one_tree(monkeypatch, data: bytes):
    """The file read as one tree, as before it was read in pieces."""
    from payments.parsers import camt

    with monkeypatch.context() as m:
        m.setattr(camt._Pieces, "plan", classmethod(lambda cls, *a: None))
        try:
            return parse_bank_file(data)
        except BankFileError as exc:
            return str(exc)


@pytest.mark.parametrize("prefix,statements", [("", 1), ("camt:", 3)])
def test_camt_read_in_pieces_gives_what_the_whole_tree_gives(monkeypatch, prefix, statements):
    from payments.parsers import camt

    data = _camt_statement(2500, prefix, statements)  # groups of 1000 entries and more: several per statement
    tags = camt._ntry_tags(data)
    pieces = camt._Pieces.plan(data, tags, camt._group_sizes(1000, len(tags[0])))
    assert pieces is not None and len(pieces.runs) == statements
    parsed = parse_bank_file(data)
    assert len(parsed.entries) == 2500 * statements
    assert parsed == _one_tree(monkeypatch, data)
    last = parsed.statements[-1].entries[-1]
    line = data.count(b"\n") - 2  # then </Stmt> and the document's end
    assert last.source_line == f"BkToCstmrStmt/Stmt[{statements}]/Ntry[2500] (line {line})"
    assert last.raw.startswith(f"<{prefix}Ntry>") and last.raw.endswith(f"</{prefix}Ntry>")


def test_camt_not_well_formed_late_is_refused_for_that_before_an_earlier_bad_entry(monkeypatch):
    # Read in pieces, entry 5 is walked before the broken tag in entry 2400 is parsed; the refusal must still
    # be the one the whole tree gives (not well-formed, with the line), not entry 5's missing currency.
    data = _camt_statement(2500)
    lines = data.split(b"\n")
    lines[6] = lines[6].replace(b' Ccy="EUR"', b"", 1)
    lines[2402] = lines[2402].replace(b"</Ustrd>", b"</Ustrdx>")
    data = b"\n".join(lines)
    with pytest.raises(BankFileError, match=r"^line 2403: XML is not well-formed \(mismatched tag"):
        parse_bank_file(data)
    assert _one_tree(monkeypatch, data).startswith("line 2403: XML is not well-formed (mismatched tag")


@pytest.mark.parametrize("extra", [b"<!-- <Ntry> -->", b"<?pi <Ntry>?>", b"<![CDATA[</Ntry>]]>"])
def test_camt_with_comments_or_cdata_is_read_as_one_tree(monkeypatch, extra):
    from payments.parsers import camt

    data = _camt_statement(1200).replace(b"<Ustrd>INV-7<", b"<Ustrd>INV-7" + extra + b"<")
    assert camt._Pieces.plan(data, camt._ntry_tags(data), [1000, 200]) is None
    assert parse_bank_file(data) == _one_tree(monkeypatch, data)

# --- MT940 / MT942 ------------------------------------------------------------------------------------------

MT940 = """{1:F01BANKDEFFXXXX0000000000}{2:O940BANKDEFFXXXXN}{4:
:20:STMT2501
:25:DE89370400440532013000
:28C:1/1
:60F:C250101EUR100,00
:61:2501020102CR250,00NTRFE2E-77//BANKREF-1
:86:/EREF/E2E-77/NAME/Acme GmbH/IBAN/FR7630006000011234567890189/REMI/Invoice
 INV-1001 and INV-1002
:61:2501020102D50,NMSCNONREF
:86:Bank charges
:62F:C250102EUR300,00
-}
"""


def test_mt940_multi_line_86_and_references():
    parsed = parse_bank_file(MT940.encode())
    assert parsed.format == "mt940" and parsed.warnings == ()
    [statement] = parsed.statements
    assert statement.opening_balance == Decimal("100.00") and statement.closing_balance == Decimal("300.00")
    credit, charge = statement.entries
    assert credit.bank_reference == "BANKREF-1"
    assert (credit.amount, credit.direction, credit.value_date) == (Decimal("250.00"), CREDIT, date(2025, 1, 2))
    assert credit.payer_name == "Acme GmbH" and credit.payer_account == "FR7630006000011234567890189"
    assert credit.unstructured == "Invoice INV-1001 and INV-1002"
    assert credit.end_to_end_id == "E2E-77"
    assert charge.bank_reference == f"{statement.statement_id}/2", "NONREF: statement id / position"
    assert (charge.amount, charge.direction) == (Decimal("50"), DEBIT)


def _streamed(data: bytes, chunk_size: int):
    """What the import reads (stream_bank_file, lists put back into their statements), or the refusal."""
    from dataclasses import replace

    try:
        stream = stream_bank_file(data, chunk_size=chunk_size)
        statements = []
        for item in stream:
            if isinstance(item, list):
                statements[-1] = replace(statements[-1], entries=statements[-1].entries + tuple(item))
            else:
                statements.append(item)
    except BankFileError as exc:
        return str(exc)
    return statements, list(stream.warnings)


def _whole(data: bytes):
    try:
        parsed = parse_bank_file(data)
    except BankFileError as exc:
        return str(exc)
    return list(parsed.statements), list(parsed.warnings)


@pytest.mark.parametrize("fmt,detected", [("mt940", ("mt940", "mt942")), ("bai2", ("bai2",))])
def test_read_as_stored_gives_what_the_whole_parse_gives(fmt, detected):
    """MT940 and BAI2 are stored list by list while they are read: every seed and 400 mutations of them (bad
    lines late in a statement, repeated references, missing trailers or :62F:, wrong totals) give the same
    statements, entries, warnings and refusals as parsing the whole file."""
    import random

    from tests.parser_fuzzing import RandomChooser, load_seeds, mutate

    seeds = load_seeds()
    inputs = [data for _, data in seeds[fmt]]
    chooser = RandomChooser(random.Random(940))
    inputs += [mutate(chooser, fmt, seeds) for _ in range(400)]
    compared = 0
    for data in inputs:
        try:
            if detect_format(data) not in detected:
                continue
        except BankFileError:
            continue
        compared += 1
        assert _streamed(data, chunk_size=2) == _whole(data), data[:200]
    assert compared > 100


def test_mt940_a_bad_line_late_in_a_long_statement_is_refused_naming_it():
    lines = [":20:LONG", ":25:DE89370400440532013000", ":28C:1/1", ":60F:C250101EUR0,00"]
    for i in range(1000):
        lines += [f":61:2501020102C1,00NTRFE2E{i}//BR{i}", f":86:166?20SVWZ+INV-{i}"]
    lines += [":62F:C250102EUR1000,00", "-"]
    good = "\n".join(lines)
    bad = good.replace(":61:2501020102C1,00NTRFE2E900//", ":61:2501X20102C1,00NTRFE2E900//")
    line = 4 + 2 * 900 + 1
    with pytest.raises(BankFileError, match=rf"^line {line}: :61: statement line"):
        _consume_stream(bad.encode())
    assert _consume_stream(good.encode()) == 1000


def _consume_stream(data: bytes) -> int:
    return sum(len(item) for item in stream_bank_file(data, chunk_size=100) if isinstance(item, list))


def test_mt940_bad_statement_line_names_the_line():
    data = MT940.replace(":61:2501020102CR250,00", ":61:25010X0102CR250,00")
    with pytest.raises(BankFileError, match=r"^line 6: :61: statement line"):
        parse_bank_file(data.encode())


def test_mt942_interim_report_checks_its_totals():
    data = """:20:INTRA1
:25:PL29114010810000267002001002
:28C:1/1
:34F:PLN0
:13D:2501021815+0100
:61:2501020102CN10,00NTRFNONREF//MB1
:86:first
:61:2501020102CN5,00NTRFNONREF//MB2
:86:second
:90C:2PLN15,00
:90D:0PLN0,00
-
"""
    parsed = parse_bank_file(data.encode())
    assert parsed.format == "mt942" and parsed.warnings == ()
    assert [e.bank_reference for e in parsed.entries] == ["MB1", "MB2"]
    assert parsed.statements[0].currency == "PLN"
    wrong = parse_bank_file(data.replace(":90C:2PLN15,00", ":90C:2PLN16,00").encode())
    assert any(":90C: says 2 entries totalling 16.00" in w for w in wrong.warnings)


# --- lockbox ------------------------------------------------------------------------------------------------

LOCKBOX = """100ABCDEFGHIJ00999999911605231800
2ABCDEFGHIJ0099999991000000000040008000801
50000000022222160523ABCDEFGHIJ0099999991
6001001000070000005500270700123455550000000180051616BOB E SMITH                   MY BUSINESS COMPANY
40010016019CE554
6001002000012345005500270700123455550000000181051616ACME INC                      MY BUSINESS COMPANY
700100000222221605230020000823450
8000000002222216052300020000823450
9000009
"""


def test_lockbox_checks_with_invoice_overflow():
    parsed = parse_bank_file(LOCKBOX.encode())
    assert parsed.format == "lockbox" and parsed.warnings == ()
    first, second = parsed.entries
    assert (first.bank_reference, first.amount, first.channel) == ("22222/160523/001/001", Decimal("7000.00"),
                                                                  "lockbox")
    assert first.payer_name == "BOB E SMITH" and first.end_to_end_id == "180"
    assert [i.reference for i in first.remittance] == ["CE554"]
    assert second.amount == Decimal("1234.50") and second.remittance == ()


def test_lockbox_total_mismatch_is_a_warning():
    parsed = parse_bank_file(LOCKBOX.replace("700100000222221605230020000823450",
                                             "700100000222221605230020000823451").encode())
    assert any("batch total says 2 checks for 8234.51" in w for w in parsed.warnings)


# --- NACHA --------------------------------------------------------------------------------------------------

def _ach(*records: str) -> bytes:
    return "\n".join(r.ljust(94) for r in records).encode()


ACH_HEADER = "101 231380104 1210428822501020000A094101Federal Reserve Bank   Our Bank"
CTX_BATCH = "5220ACME CORP                           1234567890CTXPAYMENT         250102   1121042880000001"


def _entry(cents: int, trace: str, *, addenda: int = 0, ctx: bool = True) -> str:
    # Entry detail: code, RDFI + check digit, account(17), amount(10), id(15), then CTX addenda count and
    # receiver(16) or a 22-character name, discretionary(2), addenda indicator, trace(15).
    receiver = f"{addenda:04d}{'O2C INC':16}  " if ctx else f"{'O2C INC':22}"
    record = f"622231380104{'12345678':17}{cents:010d}{'PAYER-ID-001':15}{receiver}  {1 if addenda else 0}{trace}"
    assert len(record) == 94
    return record


CTX_820 = ("ISA*00*          *00*          *ZZ*ACME           *ZZ*O2C            *250102*0600*U*00401*000000001*0*P*>~"
           "ST*820*0001~BPR*C*1500*C*ACH*CTX~TRN*1*TRACE-A~N1*PR*ACME CORP~"
           "RMR*IV*INV-1*PI*1000~RMR*IV*INV-2*PI*500*510*10~SE*7*0001~")
# The 820 is cut into 80-character pieces, one 05 addenda record each, numbered in sequence.
CTX_ADDENDA = tuple(f"705{CTX_820[i:i + 80]:80}{i // 80 + 1:04d}0000001" for i in range(0, len(CTX_820), 80))
CTX_ENTRY = _entry(150000, "121042880000001", addenda=len(CTX_ADDENDA))
CTX_CONTROL = "82200000030023138010000000000000000000150000123456789                          121042880000001"
ACH_FILE_CONTROL = "9000001000001000000030023138010000000000000000000150000"


def test_nacha_ctx_with_820_addenda():
    assert {len(a) for a in CTX_ADDENDA} == {94} and len(CTX_ADDENDA) > 2
    parsed = parse_bank_file(_ach(ACH_HEADER, CTX_BATCH, CTX_ENTRY, *CTX_ADDENDA, CTX_CONTROL, ACH_FILE_CONTROL))
    assert parsed.format == "nacha"
    [advice] = parsed.remittances
    assert advice.payment_reference == "121042880000001"
    assert (advice.payment_amount, advice.direction, advice.channel) == (Decimal("1500.00"), CREDIT, "ach")
    assert advice.payer_name == "ACME CORP" and advice.payment_date == date(2025, 1, 2)
    assert [(i.reference, i.amount_paid, i.gross_amount, i.discount) for i in advice.items] == [
        ("INV-1", Decimal("1000"), None, None), ("INV-2", Decimal("500"), Decimal("510"), Decimal("10"))]
    assert advice.raw.count("\n705") == len(CTX_ADDENDA)


def test_nacha_ccd_plus_rmr_addenda():
    batch = CTX_BATCH.replace("CTX", "CCD")
    entry = _entry(100000, "121042880000002", addenda=1, ctx=False)
    addenda = "705RMR*IV*INV-9*PI*1000.00\\" .ljust(83) + "00010000002"
    control = "82200000020023138010000000000000000000100000123456789                          121042880000001"
    parsed = parse_bank_file(_ach(ACH_HEADER, batch, entry, addenda, control,
                                  "9000001000001000000020023138010000000000000000000100000"))
    assert parsed.warnings == ()
    [advice] = parsed.remittances
    [item] = advice.items
    assert (item.reference, item.reference_type, item.amount_paid) == ("INV-9", "invoice", Decimal("1000.00"))
    assert advice.payment_reference == "121042880000002"


def test_nacha_control_total_mismatch_is_a_warning_and_bad_amount_an_error():
    batch = CTX_BATCH.replace("CTX", "PPD")
    entry = _entry(100000, "121042880000002", ctx=False)
    control = "82200000010023138010000000000000000000999999123456789                          121042880000001"
    parsed = parse_bank_file(_ach(ACH_HEADER, batch, entry, control,
                                  "9000001000001000000010023138010000000000000000000100000"))
    assert any("total credits (cents) 999999 does not match the entries (100000)" in w for w in parsed.warnings)
    with pytest.raises(BankFileError, match=r"^line 3: entry amount '00001O0000' is not a number$"):
        parse_bank_file(_ach(ACH_HEADER, batch, entry.replace("0000100000", "00001O0000"), control,
                             "9000001000001000000010023138010000000000000000000100000"))


# --- X12 820 ------------------------------------------------------------------------------------------------

X12 = ("ISA*00*          *00*          *ZZ*ACME           *ZZ*O2C            *250102*0600*U*00401*000000001*0*P*>~\n"
       "GS*RA*ACME*O2C*20250102*0600*1*X*004010~\n"
       "ST*820*0001~\n"
       "BPR*I*1490*C*CHK************20250103~\n"
       "TRN*1*CHK-5512~\n"
       "N1*PR*ACME CORP*91*C-77~\n"
       "ENT*1~\n"
       "RMR*IV*INV-1**1000*1020*20~\n"
       "RMR*IV*INV-2**490*500~\n"
       "ADX*-10*01*IV*INV-2~\n"
       "SE*9*0001~\nGE*1*1~\nIEA*1*000000001~\n")


def test_x12_820_rmr_and_adx():
    parsed = parse_bank_file(X12.encode())
    assert parsed.format == "x12_820" and parsed.statements == ()
    [advice] = parsed.remittances
    assert (advice.payment_reference, advice.payer_name, advice.payer_id) == ("CHK-5512", "ACME CORP", "C-77")
    assert (advice.payment_amount, advice.channel, advice.payment_date) == (Decimal("1490"), "check",
                                                                           date(2025, 1, 3))
    first, second = advice.items
    assert (first.reference, first.amount_paid, first.gross_amount, first.discount) == \
        ("INV-1", Decimal("1000"), Decimal("1020"), Decimal("20"))
    assert (second.reference, second.adjustment, second.adjustment_reason) == ("INV-2", Decimal("-10"), "01")


def test_x12_820_truncated_is_refused_with_the_line():
    data = X12.split("SE*9")[0]
    with pytest.raises(BankFileError, match=r"^line 10: 820 transaction set 0001 has no SE trailer"):
        parse_bank_file(data.encode())


def test_x12_other_transaction_sets_are_refused():
    with pytest.raises(BankFileError, match="without an 820"):
        detect_format(X12.replace("ST*820", "ST*810").encode())


# --- CSV ----------------------------------------------------------------------------------------------------

CSV = """Buchungstag;Betrag;Auftraggeber;Verwendungszweck;Rechnung
02.01.2025;1.234,56;Acme GmbH;Zahlung RE 1001;RE-1001
02.01.2025;-12,00;Bank;Gebuehr;
02.01.2025;-12,00;Bank;Gebuehr;
"""
MAPPING = CsvMapping(date="Buchungstag", amount="Betrag", payer_name="Auftraggeber", text="Verwendungszweck",
                     invoice="Rechnung", date_format="%d.%m.%Y", decimal_separator=",", thousands_separator=".",
                     delimiter=";", default_currency="EUR", account="DE89370400440532013000", bank="sparkasse")


def test_csv_with_saved_mapping():
    with pytest.raises(BankFileError, match="not a recognised bank file"):
        parse_bank_file(CSV.encode())
    parsed = parse_bank_file(CSV.encode(), csv_mapping=MAPPING)
    assert parsed.format == "csv"
    first, fee, fee_again = parsed.entries
    assert (first.amount, first.direction, first.currency) == (Decimal("1234.56"), CREDIT, "EUR")
    assert [i.reference for i in first.remittance] == ["RE-1001"]
    assert fee.direction == DEBIT and fee.amount == Decimal("12.00")
    assert fee.bank_reference.startswith("CSV:") and fee.bank_reference != fee_again.bank_reference
    as_dict = {k: v for k, v in MAPPING.__dict__.items()}
    assert parse_bank_file(CSV.encode(), csv_mapping=as_dict) == parsed


def test_csv_bad_date_names_line_and_column():
    with pytest.raises(BankFileError, match=r"^line 3: column 'Buchungstag' date '2025-01-02' does not match"):
        parse_bank_file(CSV.replace("02.01.2025;-12,00;Bank;Gebuehr;\n", "2025-01-02;-12,00;Bank;Gebuehr;\n", 1)
                        .encode(), csv_mapping=MAPPING)


def test_unknown_content_is_refused_with_the_list_of_formats():
    with pytest.raises(BankFileError, match=r"expected BAI2, camt\.05x, MT940/942, lockbox, NACHA, X12 820 or CSV"):
        parse_bank_file(b"hello world\n")
    with pytest.raises(BankFileError, match="empty"):
        parse_bank_file(b"")


def test_list_sizes_start_small_end_small_and_cover_the_file():
    from itertools import islice

    from payments.parsers._common import FIRST_LIST, LAST_LISTS, list_sizes

    sizes, endless = [], list_sizes(10_000, 100_000)
    while sum(sizes) < 100_000:
        sizes.append(next(endless))
    assert sum(sizes) == 100_000, "the lists planned add up to the file"
    assert sizes[0] == FIRST_LIST and max(sizes) == 10_000
    assert sizes[-LAST_LISTS:] == [2500] * LAST_LISTS, "the last list's worth in four"
    assert next(endless) == 10_000, "past the total (batch bookings): lists of the size asked for"
    assert list(islice(list_sizes(10_000, 300), 3)) == [FIRST_LIST, 10_000, 10_000], "a small file: one list"
    assert list(islice(list_sizes(2), 3)) == [2, 2, 2], "asked for lists smaller than the first"


@pytest.mark.parametrize("fmt", ["mt940", "bai2", "camt"])
def test_the_first_list_of_a_long_statement_is_out_early_and_the_last_lists_are_short(fmt):
    # Storing begins after FIRST_LIST entries and little is left to store once the file is read (list_sizes).
    from payments.parsers._common import FIRST_LIST

    n = 3000
    if fmt == "camt":
        data = _camt_statement(n)
    elif fmt == "mt940":
        lines = [":20:LONG", ":25:DE89370400440532013000", ":28C:1/1", ":60F:C250101EUR0,00"]
        for i in range(n):
            lines += [f":61:2501020102C1,00NTRFE2E{i}//BR{i}", f":86:166?20SVWZ+INV-{i}"]
        data = "\n".join([*lines, f":62F:C250102EUR{n},00", "-"]).encode()
    else:
        records = ["01,BANK,O2C,250102,0600,1,,,2/", "02,O2C,BANK,1,250102,0600,USD,2/",
                   f"03,12345,USD,010,0,,,015,{n * 100},,/"]
        records += [f"16,195,100,Z,BR{i},E2E{i}/" for i in range(n)]
        records += [f"49,{n * 100 * 2},{n + 2}/", f"98,{n * 100 * 2},1,{n + 4}/", f"99,{n * 100 * 2},1,{n + 6}/"]
        data = "\n".join(records).encode()
    lists = [len(item) for item in stream_bank_file(data, chunk_size=5000) if isinstance(item, list)]
    assert sum(lists) == n
    assert lists[0] == FIRST_LIST and len(lists) > 2 and max(lists[1:]) < FIRST_LIST, lists
