"""The independent cash-application benchmark's files: what the parsers read is what the truth says."""

from collections import Counter
from decimal import Decimal

import pytest

from bench.independent import writers as W
from bench.independent.generate import UNMATCHABLE, make_book
from o2c.services.invoice_import import _Parser
from payments.parsers import parse_bank_file


@pytest.fixture(scope="module", params=["SI", "INV", "DIGITS"])
def book(request):
    return make_book(seed=3, n_invoices=400, n_customers=40, n_payments=60, scheme=request.param)


@pytest.mark.parametrize("fmt", sorted(W.WRITERS))
def test_each_format_parses_to_the_same_payments(book, fmt):
    data, refs = W.WRITERS[fmt](book, book.payments)
    parsed = parse_bank_file(data, file_name=f"payments.{W.EXTENSIONS[fmt]}")
    entries = parsed.entries
    assert parsed.warnings == ()  # totals, counts and balances written right
    assert len(entries) == len(book.payments) == 60
    assert [e.bank_reference for e in entries] == refs
    assert [e.amount for e in entries] == [Decimal(p.amount).scaleb(-2) for p in book.payments]
    assert sum(e.amount for e in entries) == Decimal(sum(p.amount for p in book.payments)).scaleb(-2)
    assert all(e.direction == "credit" for e in entries)


def test_invoices_csv_passes_the_import_parser(book):
    parser = _Parser(W.invoices_csv(book).decode())
    rows = sum(len(chunk.lines) for chunk in parser.chunks(1000))
    assert parser.errors == []
    assert rows == len(book.numbers) == 400


def test_truth_is_consistent(book):
    cents = dict(zip(book.numbers, book.cents, strict=True))
    owner = {n: book.customers[c].external_id for n, c in zip(book.numbers, book.cust, strict=True)}
    parent = {c.external_id: book.customers[c.parent].external_id if c.parent >= 0 else "" for c in book.customers}
    seen = Counter()
    for p in book.payments:
        applied = sum(a for _, a in p.expected)
        seen.update(n for n, _ in p.expected)
        if p.case in UNMATCHABLE:
            assert not p.matchable and p.expected == []
            continue
        assert p.matchable and p.expected
        for number, amount in p.expected:
            assert 0 < amount <= cents[number]
            # the payer is the invoice's customer, or its parent
            assert p.customer in (owner[number], parent[owner[number]])
        if p.case == "overpay":
            assert applied < p.amount
        else:
            assert applied == p.amount
        if p.case in ("exact", "bundle", "no_ref", "name_variant", "parent_pays_sub", "ref_noise", "overpay"):
            assert all(a == cents[n] for n, a in p.expected)  # settled in full
        if p.case in ("short_pay", "discount_earned", "discount_unearned"):
            assert p.amount < cents[p.expected[0][0]]
    assert max(seen.values()) == 1  # no invoice is expected twice


def test_discount_cases_sit_on_the_right_side_of_the_window(book):
    index = {n: i for i, n in enumerate(book.numbers)}
    for p in book.payments:
        if p.case.startswith("discount"):
            _, _, window = book.invoice_dates(index[p.expected[0][0]])
            assert (window >= book.statement_day) == (p.case == "discount_earned")


def test_sizes_are_skewed_like_an_ar_book():
    b = make_book(seed=5, n_invoices=50_000, n_customers=5_000, n_payments=50)
    sizes = [n for _, n in Counter(b.cust).most_common(50)]
    assert sizes[0] / 50_000 >= 0.04
    assert 0.20 <= sum(sizes) / 50_000 <= 0.33


def test_a_seed_is_deterministic():
    def files(seed):
        b = make_book(seed=seed, n_invoices=300, n_customers=30, n_payments=40)
        return [W.invoices_csv(b)] + [w(b, b.payments)[0] for w in W.WRITERS.values()]

    assert files(11) == files(11)
    assert files(11) != files(12)
