"""Who paid, as the parsers read it from the subfields real bank files use. Each small file below is modelled on
one of the conformance fixtures in ../shared/fixtures/bank-files (named in its comment). Pure parsing."""

from __future__ import annotations

import time

import pytest

from payments.parsers import parse_bank_file
from payments.parsers.bai2 import _payer
from payments.parsers.mt940 import _details


def _bai2(*texts: str) -> bytes:
    """One credit (a 195 incoming wire) whose text is given as 88 continuation records."""
    lines = ["01,BANKUS33,O2C,251101,0600,7,,,2/", "02,O2C,BANKUS33,1,251101,,USD,2/",
             "03,1234567,USD,010,0,,,015,50000,,,/", "16,195,50000,Z,BR1,,/",
             *(f"88,{t}" for t in texts)]
    n = len(lines)
    lines += [f"49,50000,{n - 1}/", f"98,50000,1,{n + 1}/", f"99,50000,1,{n + 3}/"]
    return "\n".join(lines).encode()


def _bai2_entry(*texts: str):
    [entry] = parse_bank_file(_bai2(*texts)).entries
    return entry


@pytest.mark.parametrize(("texts", "name", "account"), [
    # moov-io sample4: DBNM/DACT subfields, one per 88 record
    (("EREF: GS0D9VGMP1IWPLW", "DBNM: SAMPLE INC", "DACT: 8348572423"), "SAMPLE INC", "8348572423"),
    # ministryofjustice citi_example: several tags to a line; BO1 is the name, BO the account, OB the bank
    (("FR:FP SIP INCOMING", "OB:111111 BUCKINGHAM PALACE OB3:BARCLAYS BANK PLC", "BO:11111111 BO1:DOE JO"),
     "DOE JO", "111111/11111111"),
    # venturehacks eod: ORG:= subfield
    (("ORG:=OPTIONS LINK WIRE CLEARING", "OBI:=INVOICE 123456"), "OPTIONS LINK WIRE CLEARING", ""),
    # ACH detail written on one line: the name ends at the next key
    (("ORIG CO NAME:BLUEWATER LOGISTICS ORIG ID:1234567890 DESC DATE:251101 CO ENTRY DESCR:PAYMENT SEC:CCD",),
     "BLUEWATER LOGISTICS", ""),
    (("ORIG CO NAME=PINE COASTAL GROCE  ORIG ID=99",), "PINE COASTAL GROCE", ""),
    # Goldman (moov-io sample5) text without a DBNM subfield: 'From: <name>, Client Ref ID: ...'
    (("Incoming Wire,From: TEST AND COMPANY LLC, Client Ref ID: 20230821J1Q5040C000707",), "TEST AND COMPANY LLC", ""),
    (("WIRE IN B/O: ACME SUPPLY CO",), "ACME SUPPLY CO", ""),
    (("WIRE TRANSFER /ORIG/ACME SUPPLY CO/REF/INV 12",), "ACME SUPPLY CO", ""),
    (("BY ORDER OF ACME SUPPLY CO OBI: INV 1",), "ACME SUPPLY CO", ""),
    # no other subfield names the payer: 'OB:' (the ordering party, as banks copying Citi's tags write it; a sort
    # code before it is left out)
    (("OB:TWIN RIVERS PLUMBING SUPPLY S.A.", "DACT: US88BANK62228730993239", "OBI:INV 4119946"),
     "TWIN RIVERS PLUMBING SUPPLY S.A.", "US88BANK62228730993239"),
    (("OB:111111 BUCKINGHAM PALACE OB3:BARCLAYS BANK PLC",), "BUCKINGHAM PALACE", ""),
    # no marked name: left to the matcher, which looks for known names in the text
    (("PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO",), "", ""),
])
def test_bai2_payer_from_the_entrys_text(texts, name, account):
    entry = _bai2_entry(*texts)
    assert (entry.payer_name, entry.payer_account) == (name, account)


def _mt940(info: str) -> bytes:
    return (":20:STMT1\n:25:NL50RABO0123456789\n:28C:1/1\n:60F:C251101EUR0,00\n"
            f":61:2511011101C100,00NTRFNONREF\n:86:{info}\n:62F:C251101EUR100,00\n-\n").encode()


def _mt940_entry(info: str):
    [entry] = parse_bank_file(_mt940(info)).entries
    return entry


@pytest.mark.parametrize(("info", "name", "account"), [
    # zilverline rabobank_mt940_structured
    ("/ORDP//NAME/Bedrijf B.V./REMI/NR.201303-111/ISDT/2013-04-03", "Bedrijf B.V.", ""),
    ("/ORDP/ACME SUPPLY CO/REMI/INV 12", "ACME SUPPLY CO", ""),
    ("/ULTD/ACME SUPPLY CO/REMI/INV 12", "ACME SUPPLY CO", ""),
    # sepa_mt9401 / Kontist: German ?NN subfields, the name in ?32 and ?33
    ("166?00SEPA-GUTSCHRIFT?20SVWZ+RE 4711?30SPKRDE33XXX?31DE59320500000001908722?32CHRISTIAN BENDT",
     "CHRISTIAN BENDT", "DE59320500000001908722"),
    # postfinance: the name runs until the address's numbers
    ("GIRO AUS ONLINE-SIC 80532 AUFTRAGGEBER: JANE DOE EXAMPLESTRASSE\n 10 1234 XXXX MITTEILUNGEN: RECHNUNG 7",
     "JANE DOE EXAMPLESTRASSE", ""),
    # mBank: 'OD:' to the end of its line
    ("911 TRANSAKCJA COLLECT; ID IPH: XX01; Z RACH.: \n56114010810000267002001001; OD: JAN NOWAK  \n"
     "UL. NIJAKA 1 M 2 31-234 KRAKOW; TYT.: PRZELEW", "JAN NOWAK", ""),
    # Penta: '<code><type>:<purpose>:<name>:<IBAN>'
    ("999SEPA_CREDIT_TRANSFER:CCI : 0150577373,PURPOSE:DEVELOPER PROCEEDS,HOPPA:HOPPA Inc:GB29DEUT40333124517700:X",
     "HOPPA Inc", "GB29DEUT40333124517700"),
    # ASN / ING: a first line of account and name
    ("NL56ASNB9999999999 paulissen g j l m\n\nINTERNE OVERBOEKING VIA MOBIEL", "paulissen g j l m",
     "NL56ASNB9999999999"),
    ("0111111111 Hr S Marechal\nROSMALEN Hr S Marechal ROSMALEN", "Hr S Marechal", "0111111111"),
    # no marked name: nothing guessed
    ("0123456789 EJ46GREENP100610T1456 CLIEOP TMG GPHONGKONG AMSTERDAM", "", ""),
    ("PAYMENT PINE COASTAL GROCERS INV 12", "", ""),
])
def test_mt940_payer_from_the_86_field(info, name, account):
    entry = _mt940_entry(info)
    assert (entry.payer_name, entry.payer_account) == (name, account)
    assert entry.unstructured  # the text is kept for the matcher either way


def test_mt940_86_wrapped_just_after_a_space_keeps_the_space():
    # A bank wrapping :86: at 65 columns may break it right after a space. The continuation lines always kept
    # theirs; the field's first line lost its own, which glued 'BAYVIEW HARDWARE' to 'LLC' and an invoice number
    # to the word after it.
    entry = _mt940_entry("166?00SEPA-UEBERWEISUNG?109310?20SVWZ+4966515 ?32BAYVIEW HARDWARE \nLLC")
    assert entry.payer_name == "BAYVIEW HARDWARE LLC"
    assert entry.unstructured == "4966515"
    entry = _mt940_entry("/ORDP//NAME/COPPER ALVAREZ MARINE SERVICES INC./REMI/INV 4322090 \nLESS 34.77 RETURNED")
    assert entry.unstructured == "INV 4322090 LESS 34.77 RETURNED"
    entry = _mt940_entry("166?00SEPA-UEBERWEISUNG?32CRESCENT DUBOIS GR\nOCERS GMBH")  # cut inside a word: joined
    assert entry.payer_name == "CRESCENT DUBOIS GROCERS GMBH"


@pytest.mark.parametrize("text", [
    "B/O " + " " * 100_000 + "x",
    "BY ORDER OF " * 5_000,
    "From: " + "a " * 50_000,
    "OB:1 " * 20_000,
])
def test_bai2_payer_patterns_take_linear_time_on_hostile_lines(text):
    started = time.perf_counter()
    _payer([text])
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("info", [
    "AUFTRAGGEBER: " + " " * 100_000 + "x",
    "OD: " * 20_000,
    "NL56ASNB9999999999 " + "a" * 100_000 + "1",
    "999X:" + "a:" * 50_000,
])
def test_mt940_payer_patterns_take_linear_time_on_hostile_fields(info):
    started = time.perf_counter()
    _details(info)
    assert time.perf_counter() - started < 2.0


def _payer_subfield_one_by_one(line: str) -> str | None:
    from payments.parsers.bai2 import _PAYER_PATTERNS

    for pattern in _PAYER_PATTERNS:
        m = pattern.match(line)
        if m:
            return m.group(1)
    return None


def test_bai2_payer_subfield_pattern_is_its_patterns_tried_in_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from payments.parsers.bai2 import _PAYER_SUBFIELD

    heads = st.sampled_from(["ORG", "ORIGINATOR", "ORIG", "DBNM", "B/O", "BO1", "BO", "OB", "ORG ", "B/O:", ""])
    tails = st.text(alphabet="ORIGDBNM/:=1 \t\nxAé", max_size=12)

    @settings(max_examples=400, deadline=None)
    @given(heads, st.sampled_from(["", ":", ":=", " :", "  := "]), tails)
    def same(head, colon, tail):
        line = head + colon + tail
        m = _PAYER_SUBFIELD.match(line)
        assert (m.group(m.lastindex) if m else None) == _payer_subfield_one_by_one(line), line

    same()
    for line, name in (("ORIGINATOR:=ACME", "ACME"), ("ORG: ACME", "ACME"), ("B/O ACME", "ACME"),
                       ("BO1:DOE JO", "DOE JO"), ("DBNM: X", "X"), ("ORIG :ACME", "ACME")):
        m = _PAYER_SUBFIELD.match(line)
        assert m.group(m.lastindex) == _payer_subfield_one_by_one(line) == name
