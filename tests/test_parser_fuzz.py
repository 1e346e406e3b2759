"""Fuzzing of every bank-file parser: whatever arrives, a parser returns or refuses with BankFileError.

Three layers:
- Hypothesis draws structured mutations of the real fixtures (tests/parser_fuzzing.py) for every format;
  derandomized and without an example database, so CI sees the same inputs on every run.
- A regression corpus (tests/fuzz_corpus/<format>/): inputs that crashed the parsers before they were made to
  refuse them, minimised. Every file must parse or be refused, nothing else.
- Inputs that made the parsers quadratic (continuation lines, a long run of spaces, repeated subfields):
  each must finish in seconds; before the fix each took from tens of seconds to minutes.

bench/fuzz_parsers.py runs the same mutators over a million inputs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.parsers import BankFileError, parse_bank_file
from tests.parser_fuzzing import FORMATS, DrawChooser, load_seeds, mutate, parse_directly, run_parsers

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
CORPUS_FILES = sorted(p for p in CORPUS.rglob("*.bin"))
SEEDS = load_seeds(max_bytes=16_000)  # small fixtures keep each example cheap; the benchmark takes them all

FUZZ = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_structured_mutations_are_parsed_or_refused(fmt, data):
    run_parsers(fmt, mutate(DrawChooser(data), fmt, SEEDS))


def test_the_corpus_is_small_and_covers_every_crashing_format():
    assert len(CORPUS_FILES) >= 200
    assert sum(p.stat().st_size for p in CORPUS_FILES) < 2_000_000
    assert {p.parent.name for p in CORPUS_FILES} >= {"bai2", "lockbox", "nacha", "csv", "mt940", "camt"}


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input_is_parsed_or_refused(path):
    run_parsers(path.parent.name, path.read_bytes())


def test_format_parsers_name_the_line_or_element_of_each_corpus_refusal():
    unnamed = []
    for path in CORPUS_FILES:
        try:
            parse_directly(path.parent.name, path.read_bytes())
        except BankFileError as exc:
            if exc.line is None and not exc.element:
                unnamed.append((path.name, exc.message))
    assert unnamed == []


# --- quadratic inputs ---------------------------------------------------------------------------------------

BAI2_HEAD = b"01,B,O,250102,0600,7,,,2/\n02,O,B,1,250101,2400,USD,2/\n03,1,USD,/\n16,195,1,Z,BR1,CR1,X/\n"
BAI2_TAIL = b"49,1,2/\n98,1,1,4/\n99,1,1,6/\n"
QUADRATIC = {
    # Each continuation line was added to a growing string: 300,000 of them took about a minute.
    "bai2 wrapped text lines": BAI2_HEAD + b"more text\n" * 300_000 + BAI2_TAIL,
    "mt940 :86: of many lines": b":20:X\n:25:ACC\n:61:250102C1,00NTRFX\n:86:" + b"text\n" * 300_000 + b"-\n",
    # The account's currency was found by a regex that backtracked over every space: 50,000 took a minute.
    "mt940 :25: with a run of spaces": b":20:X\n:25:1" + b" " * 50_000 + b"x\n:61:250102C1,00NTRFX\n-\n",
    # Each "Ntry" without a "<" was searched back to the start of the file for the tag's "<": 2 MB took a minute.
    "camt Ntry words without tags": b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
                                    b"<BkToCstmrStmt><Stmt><Id>1</Id>" + b"Ntry " * 400_000 + b"</Stmt>",
    "mt940 repeated ?20 subfields": b":20:X\n:25:A\n:61:250102C1,00NTRFX\n:86:166?20" + b"?20ab" * 300_000 + b"\n-\n",
}


@pytest.mark.parametrize("name", QUADRATIC)
def test_inputs_that_were_quadratic_take_seconds(name):
    started = time.perf_counter()
    try:
        parse_bank_file(QUADRATIC[name])
    except BankFileError:
        pass
    assert time.perf_counter() - started < 8  # a few tenths of a second now; a minute or more before


# --- named refusals -----------------------------------------------------------------------------------------

BAI2 = ("01,B,O,250102,0600,7,,,2/\n02,O,B,1,250101,2400,USD,2/\n03,1,USD,010,{opening},,/\n"
        "16,195,{amount},Z,BR1,CR1,X/\n49,{total},3/\n98,0,1,5/\n99,0,1,7/\n")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("amount", "²", "line 4: 16 record amount '²' is not a number"),  # isdigit() said yes, int() crashed
    ("amount", "9" * 5000, "line 4: 16 record amount '9999"),  # int() refuses more than 4,300 digits
    ("opening", "١٢٣", "line 3: 03 record amount for type 010 '١٢٣' is not a number"),  # int() read it
])
def test_bai2_numbers_that_crashed_name_the_line(field, value, message):
    values = {"opening": "0", "amount": "1", "total": "1", field: value}
    with pytest.raises(BankFileError) as exc:
        parse_bank_file(BAI2.format(**values).encode())
    assert str(exc.value).startswith(message)


def test_bai2_distributed_availability_count_beyond_the_record_is_refused():
    data = BAI2.format(opening="0", amount="1,D,99999999999999999999,1,2", total="1").encode()
    with pytest.raises(BankFileError, match=r"^line 4: 16 record distributed-availability count"):
        parse_bank_file(data)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "1e999999", "9E+999999", "1_000", "٣.٥", "0x10"])
def test_x12_amounts_outside_plain_decimal_notation_are_refused_with_the_line(amount):
    isa = "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *251103*1200*U*00401*000000901*0*P*>~"
    data = f"{isa}\nST*820*0001~\nBPR*C*{amount}*C*ACH~\nTRN*1*T~\nSE*4*0001~\n".encode()
    with pytest.raises(BankFileError, match=r"^line 3: BPR02 payment amount .* is not a number"):
        parse_bank_file(data)


def test_csv_cell_beyond_the_csv_modules_limit_is_refused_with_the_line():
    data = b"date,amount\n2025-01-02,\"" + b"1" * 200_000 + b"\"\n"
    with pytest.raises(BankFileError, match=r"^line 2: CSV cannot be read \(field larger than field limit"):
        parse_bank_file(data, csv_mapping={"date": "date", "amount": "amount"})


def test_csv_debit_and_credit_that_overflowed_decimal_are_refused():
    data = b"date,credit,debit\n2025-01-02,9E+999999,-9E+999999\n"
    with pytest.raises(BankFileError, match=r"^line 2: column 'credit' amount '9E\+999999' is not a number"):
        parse_bank_file(data, csv_mapping={"date": "date", "credit": "credit", "debit": "debit"})


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE d SYSTEM "http://127.0.0.1:1/evil.dtd">',
])
def test_camt_with_a_dtd_is_refused_before_anything_is_expanded(doctype):
    data = (f'<?xml version="1.0"?>{doctype}<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
            "<BkToCstmrStmt><Stmt><Id>&b;&x;</Id></Stmt></BkToCstmrStmt></Document>").encode()
    with pytest.raises(BankFileError, match="DTD"):
        parse_bank_file(data)


def test_camt_nested_100000_deep_is_refused_quickly():
    data = (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt>'
            + b"<Ntry>" * 100_000 + b"</Ntry>" * 100_000 + b"</Stmt></BkToCstmrStmt></Document>")
    started = time.perf_counter()
    with pytest.raises(BankFileError):
        parse_bank_file(data)
    assert time.perf_counter() - started < 8
