"""Who paid, from the names banks really send: `cashapp.matching.payer`, pure functions, no database.

Each variant of a payer name (a trade name after D/B/A, a dropped space, a name cut at a field's width, a
doubled word, a legal suffix in another spelling) must identify the customer as surely as the clean name, and
be told from a name that merely shares a word. With no usable name, the customer's name written in the
payment's free text identifies it; ordinary payment words never do. Each case also runs the whole matcher on an
amount-only payment, where nothing but the payer and the amount decide.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cashapp.matching import (
    AUTO,
    SUGGEST,
    Alias,
    CustomerRecord,
    MatchIndex,
    OpenInvoice,
    PaymentRecord,
    match_payments,
)
from cashapp.matching.normalize import name_key
from cashapp.matching.payer import BANK_LIMITS, STRENGTH, identify_payer

D = Decimal
TODAY = date(2026, 11, 1)
PINE, PACIFIC, ACME, HARBOR, SMITH, PAYSERV, BLUE, ACME_WEST, HARBOUR_GRILL = 1, 2, 3, 4, 5, 6, 7, 8, 9

PEOPLE = [
    CustomerRecord(PINE, "Pine Coastal Grocers, Inc."),
    CustomerRecord(PACIFIC, "Pacific Coastal Markets Incorporated"),
    CustomerRecord(ACME, "Acme Supply Co.", aliases=(Alias("Acme Supply Trading"),)),
    CustomerRecord(HARBOR, "Harbor Light Wholesale Distributors LLC"),
    CustomerRecord(SMITH, "The Smith & Sons Plumbing Ltd"),
    CustomerRecord(PAYSERV, "Payment Services Inc"),
    CustomerRecord(BLUE, "Bluewater Logistics GmbH"),
    CustomerRecord(ACME_WEST, "Acme Supply West LLC"),
    CustomerRecord(HARBOUR_GRILL, "Harbor Grill"),
]
# One open invoice each, of an amount nobody else has: an amount-only payment settles it only if the payer is known.
AMOUNTS = {c.id: D(f"{100 + c.id}.{c.id:02d}") for c in PEOPLE}


def invoices() -> list[OpenInvoice]:
    return [OpenInvoice(cid, cid, f"INV-{cid:05d}", amount, amount, "USD", date(2026, 10, 1))
            for cid, amount in AMOUNTS.items()]


def pay(name: str = "", text: str = "", people=PEOPLE) -> dict:
    idx = MatchIndex.build(people, invoices())
    return identify_payer(PaymentRecord(1, D("1.00"), "USD", TODAY, name, "", text), idx.payers)


REASON = {
    "name": "payer name matches",
    "trade name": "payer's trade name (D/B/A) matches",
    "spaceless": "payer name written without a space",
    "cut at a limit": "payer name cut at the bank's {limit}-character limit",
    "cut short": "payer name cut short by the bank",
    "doubled word": "payer name with a word doubled",
    "followed": "payer name is the customer's followed by other words",
}


def decide(name: str = "", text: str = "", cid: int = PINE, people=PEOPLE):
    idx = MatchIndex.build(people, invoices())
    [d] = match_payments([PaymentRecord(1, AMOUNTS[cid], "USD", TODAY, name, "", text)], idx)
    return d


@pytest.mark.parametrize(("name", "cid", "kind"), [
    ("PINE COASTAL GROCERS", PINE, "name"),
    # legal suffixes in other spellings, punctuation, '&' for AND, THE
    ("Pine Coastal Grocers Incorporated", PINE, "name"),
    ("PINE COASTAL GROCERS CORP.", PINE, "name"),
    ("Pine-Coastal Grocers, L.L.C.", PINE, "name"),
    ("PACIFIC COASTAL MARKETS S.A.", PACIFIC, "name"),
    ("Pacific Coastal Markets GmbH", PACIFIC, "name"),
    ("SMITH AND SONS PLUMBING LIMITED", SMITH, "name"),
    ("THE SMITH & SONS PLUMBING", SMITH, "name"),
    # a trade name
    ("DBA PINE COASTAL GROCERS", PINE, "trade name"),
    ("D/B/A PINE COASTAL GROCERS", PINE, "trade name"),
    ("T/A Pine Coastal Grocers", PINE, "trade name"),
    ("JOHN Q PUBLIC DBA PINE COASTAL GROCERS", PINE, "trade name"),
    ("PINE COASTAL GROCERS DBA PINE FRESH", PINE, "trade name"),
    # the space between two words dropped
    ("PINECOASTAL GROCERS", PINE, "spaceless"),
    ("BLUEWATERLOGISTICS GMBH", BLUE, "spaceless"),
    # cut at a field's width: mid-word, at a word's end, inside the legal suffix
    ("PACIFIC COASTAL MARKETS INCORPORATE", PACIFIC, "cut at a limit"),
    ("HARBOR LIGHT WHOLESALE DISTRIBUTOR", HARBOR, "cut at a limit"),
    ("Pacific Coastal Markets Inc", PACIFIC, "name"),
    ("HARBOR LIGHT", HARBOR, "cut short"),
    ("HARBOR LIGHT WHOLESALE DIS", HARBOR, "cut short"),
    ("Pacific Coastal Markets Incorp", PACIFIC, "cut short"),
    ("Pine Coastal Gro", PINE, "cut at a limit"),
    # a word doubled
    ("PINE PINE COASTAL GROCERS", PINE, "doubled word"),
    ("ACME ACME SUPPLY", ACME, "doubled word"),
    # followed by other words
    ("PINE COASTAL GROCERS ACCOUNTS PAYABLE", PINE, "followed"),
])
def test_payer_name_variants_identify_the_customer(name, cid, kind):
    found = pay(name)
    # One short of a width: the cut fell just after a word, and the trailing space was trimmed.
    reason = REASON[kind].format(limit=len(name) if len(name) in BANK_LIMITS else len(name) + 1)
    assert found == {cid: (STRENGTH[kind], reason)}


@pytest.mark.parametrize(("name", "cid"), [
    ("DBA PINE COASTAL GROCERS", PINE),
    ("PINECOASTAL GROCERS INC", PINE),
    ("PACIFIC COASTAL MARKETS INCORPORATE", PACIFIC),
    ("ACME ACME SUPPLY", ACME),
    ("PINE COASTAL GROCERS ACCOUNTS PAYABLE", PINE),
])
def test_a_name_variant_with_an_amount_only_is_posted_like_the_clean_name(name, cid):
    d = decide(name, cid=cid)
    assert d.outcome == AUTO
    assert d.customer_id == cid
    assert [a.invoice_id for a in d.best.allocations] == [cid]


def test_strengths_rank_account_and_exact_name_above_every_variant():
    exact = STRENGTH["name"]
    assert STRENGTH["account"] > exact
    others = [v for k, v in STRENGTH.items() if k not in ("account", "name")]
    assert all(v < exact for v in others)
    assert len(set(STRENGTH.values())) == len(STRENGTH)  # each kind of evidence weighs differently


def test_the_longest_customer_name_the_payer_name_starts_with_wins():
    assert pay("ACME SUPPLY WEST ACCOUNTS") == {
        ACME_WEST: (STRENGTH["followed"], "payer name is the customer's followed by other words")}
    assert pay("ACME SUPPLY WEST") == {ACME_WEST: (STRENGTH["name"], "payer name matches")}


def test_a_customer_recorded_with_its_trade_name_is_found_by_either_name():
    people = [*PEOPLE, CustomerRecord(50, "Jones Holdings LLC DBA Quickfix Plumbing")]
    assert pay("QUICKFIX PLUMBING", people=people) == {50: (STRENGTH["name"], "payer name matches")}
    assert pay("JONES HOLDINGS", people=people) == {50: (STRENGTH["name"], "payer name matches")}
    assert pay("Jones Holdings d/b/a Quickfix Plumbing", people=people) == {
        50: (STRENGTH["name"], "payer name matches")}


def test_an_alias_keeps_its_own_reason():
    assert pay("ACME SUPPLY TRADING") == {ACME: (STRENGTH["name"], "payer alias 'Acme Supply Trading'")}


@pytest.mark.parametrize("name", [
    "PINE VALLEY FARMS",  # shares one word
    "COASTAL GROCERS OUTLET",  # shares two words, not the start
    "HARBOR FREIGHT",  # shares a first word with two customers
    "ACME",  # too short to be a cut
    "PINECOAST",  # a spaceless start is not a name
])
def test_a_name_that_merely_shares_words_identifies_nobody(name):
    assert pay(name) == {}


def test_two_customers_with_the_same_merged_key_are_ambiguous():
    people = [*PEOPLE, CustomerRecord(20, "Pinecoastal Grocers")]
    # 'PINECOASTAL GROCERS' is 20's own name: that beats reading it as PINE's without a space.
    assert pay("PINECOASTAL GROCERS", people=people) == {20: (STRENGTH["name"], "payer name matches")}
    people = [*PEOPLE, CustomerRecord(21, "Pine Coast Algrocers")]
    found = pay("PINECOASTALGROCERS", people=people)
    assert found == {PINE: (STRENGTH["spaceless"], "payer name written without a space"),
                     21: (STRENGTH["spaceless"], "payer name written without a space")}
    # Customer 21 has no invoice of PINE's amount: the amount says which of the two paid.
    d = decide("PINECOASTALGROCERS", cid=PINE, people=people)
    assert d.outcome == AUTO
    assert d.customer_id == PINE
    assert "two customers answer to the name; the amount settles only one's invoices" in [
        e.label for e in d.best.evidence]
    # With an invoice of that amount at each, an amount alone cannot say which of the two paid.
    idx = MatchIndex.build(people, [*invoices(), OpenInvoice(210, 21, "INV-00210", AMOUNTS[PINE], AMOUNTS[PINE],
                                                            "USD", date(2026, 10, 1))])
    [d] = match_payments([PaymentRecord(1, AMOUNTS[PINE], "USD", TODAY, "PINECOASTALGROCERS", "", "")], idx)
    assert d.outcome == SUGGEST


# --- the name in the free text ----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "cid"), [
    ("", "ORIG CO NAME:BLUEWATER LOGISTICS ORIG ID:1234567890 SEC:CCD", BLUE),
    ("", "/ORDP//NAME/Pine Coastal Grocers Inc./REMI/thank you", PINE),
    ("", "payment from the smith & sons plumbing", SMITH),
    ("", "SEPA GUTSCHRIFT ACME SUPPLY TRADING KD 4711", ACME),  # an alias
    ("ZORBIX VENTURES", "on behalf of Bluewater Logistics GmbH", BLUE),  # the name identified nobody
    ("111111 HARBOR GRILL OB3:BARCLAYS BANK PLC", "", HARBOUR_GRILL),  # the name inside a longer payer field
])
def test_a_customer_name_in_the_text_identifies_the_payer(name, text, cid):
    found = pay(name, text)
    assert list(found) == [cid]
    assert found[cid][0] == STRENGTH["free text"]
    assert found[cid][1].endswith("found in the payment text")


def test_a_name_made_of_words_many_customers_share_is_found_in_the_text():
    # PACIFIC and STEEL are each in 31 names, too many to point at anyone alone: the whole name still does.
    people = [*PEOPLE, CustomerRecord(40, "Pacific Steel"),
              *(CustomerRecord(100 + i, f"Pacific Works {i}") for i in range(30)),
              *(CustomerRecord(200 + i, f"Works {i} Steel") for i in range(30))]
    found = pay("", "REMITTANCE PACIFIC STEEL INC 30 OCT", people=people)
    assert found == {40: (STRENGTH["free text"], "customer's name found in the payment text")}


def test_the_longest_name_in_the_text_wins_over_one_it_contains():
    found = pay("", "B/O ACME SUPPLY WEST LLC 4500 MAIN ST")
    assert list(found) == [ACME_WEST]


def test_two_customers_named_apart_in_the_text_are_both_candidates_alike():
    found = pay("", "PINE COASTAL GROCERS FOR BLUEWATER LOGISTICS")
    assert found.keys() == {PINE, BLUE}
    assert found[PINE][0] == found[BLUE][0]


@pytest.mark.parametrize("text", [
    "PAYMENT FOR SERVICES RENDERED",  # 'Payment Services' in ordinary words: not the customer
    "PAYMENT SERVICES INV 1234",  # even adjacent: every word of that name is an ordinary one
    "PINE FURNITURE ORDER 55",  # one word of a name
    "COASTAL GROCERS",  # the end of a name
])
def test_ordinary_words_in_the_text_identify_nobody(text):
    assert pay("", text) == {}


def test_a_name_that_identified_someone_is_not_second_guessed_by_the_text():
    assert pay("BLUEWATER LOGISTICS", "for pine coastal grocers").keys() == {BLUE}


def test_the_name_in_the_text_with_an_amount_only_is_posted():
    d = decide("", "ORIGINATOR PINE COASTAL GROCERS INC REF 88/12", cid=PINE)
    assert d.outcome == AUTO
    assert d.customer_id == PINE
    assert d.best.explanation.endswith("customer's name found in the payment text")


def test_a_single_word_name_in_the_text_is_suggested_with_an_amount_only():
    people = [*PEOPLE, CustomerRecord(30, "Zyntaro AG")]
    amounts = {**AMOUNTS, 30: D("130.30")}
    idx = MatchIndex.build(people, [*invoices(), OpenInvoice(30, 30, "INV-00030", amounts[30], amounts[30], "USD",
                                                           date(2026, 10, 1))])
    [d] = match_payments([PaymentRecord(1, amounts[30], "USD", TODAY, "", "", "ZYNTARO 4 NOV")], idx)
    assert d.customer_id == 30
    assert d.outcome == SUGGEST


def test_name_key_drops_the_new_legal_suffixes():
    assert name_key("Bharat Steel Pvt Ltd") == "BHARAT STEEL"
    assert name_key("Dupont et Cie") == "DUPONT ET"
    assert name_key("Advocates PLLC") == "ADVOCATES"


def test_legal_form_reads_one_spelling_per_form():
    from cashapp.matching.normalize import legal_form

    assert legal_form("Acme Foods, Limited") == legal_form("ACME FOODS LTD.") == frozenset({"LTD"})
    assert legal_form("Becker B.V.") == frozenset({"BV"})
    assert legal_form("Westfield Paper Products") == frozenset()
    assert legal_form("Acme Foods Inc") != legal_form("Acme Foods LLC")


# --- names in the text as BAI2 and MT940 carry them: cut, merged, after T/A, with a legal form ---------------

@pytest.mark.parametrize("text", [
    "ACH CREDIT CCD Harbor Light Wholesale Distributo INV NO 4133392",  # cut inside a word, then payment words
    "ACH CREDIT CCD HARBORLIGHT WHOLESALE DISTRIBUTORS PAYMENT",  # the space between two words dropped
    "A FERREIRA T/A HARBOR LIGHT WHOLESALE DISTRIBUTORS REMIT 03/02/26",  # a trade name after T/A
    "ORG:HARBOR LIGHT WHOLESALE DISTRIBUTORS LLC THANK YOU",  # a BAI2 subfield label before it
])
def test_a_name_written_in_the_text_as_banks_write_names_identifies_the_payer(text):
    found = pay("", text)
    assert list(found) == [HARBOR]
    assert found[HARBOR][0] <= STRENGTH["free text"]


def test_a_name_cut_inside_a_word_that_name_keys_leave_out():
    # 35 characters: 'Smith & Sons Plumbing' cut inside 'AND' ('... & SONS' is written 'AND' by some banks).
    people = [*PEOPLE, CustomerRecord(20, "Keystone Marine Services and Dental Supply LLC")]
    found = pay("KEYSTONE MARINE SERVICES AND DENTA", people=people)  # 34: no known width, a whole word cut
    assert list(found) == [20]
    found = pay("Keystone Marine Services and Dent ", people=people)
    assert list(found) == [20]
    found = pay("KEYSTONE MARINE SERVICES AN", people=people)  # cut inside AND, which the key leaves out
    assert list(found) == [20]


def test_the_legal_form_written_after_a_name_in_the_text_tells_namesakes_apart():
    people = [*PEOPLE, CustomerRecord(21, "Redwood Beverages LLC"), CustomerRecord(22, "Redwood Beverages PLC")]
    found = pay("", "REDWOOD BEVERAGES LLC REMIT 03/02/26", people=people)
    assert found[21][0] == STRENGTH["free text"]
    assert found[22][0] == STRENGTH["another legal form"]
    tied = pay("", "REDWOOD BEVERAGES REMIT 03/02/26", people=people)
    assert tied[21][0] == tied[22][0]


def test_payment_words_and_numbers_in_the_text_are_not_read_as_a_name():
    assert pay("", "ACH CREDIT CCD INV NO 4133392 LESS 2% DISC") == {}


def test_a_name_cut_after_a_lead_too_common_to_keep_or_with_its_words_merged_is_found_by_its_start():
    # Thirty customers' names begin NORTHSTAR, too many for that lead to point at anyone: 'NORTHSTAR INDUSTRIA'
    # (a trade name cut at 35) is found by the names that go on from it. Merged words and a cut together too.
    people = [*PEOPLE, CustomerRecord(30, "Northstar Industrial Tools Corp."),
              CustomerRecord(31, "Harbor Regional Hospitality and Hardware Services Inc."),
              *(CustomerRecord(40 + n, f"Northstar {word} Group") for n, word in enumerate(
                  "Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Lambda Mu Nu Xi Omicron Pi Rho Sigma Tau "
                  "Upsilon Phi Chi Psi Omega Aurora Boreal Comet Dune Ember Frost".split()))]
    found = pay("S LINDQVIST T/A NORTHSTAR INDUSTRIA", people=people)
    assert found == {30: (STRENGTH["cut at a limit"], REASON["cut at a limit"].format(limit=35))}
    found = pay("HARBORREGIONAL HOSPITALITY AND HARD", people=people)
    assert list(found) == [31]
    assert found[31][1].endswith("written without a space")
    assert pay("NORTHSTAR GROUP LOGISTICS HOLDINGS", people=people) == {}  # a start nobody's name goes on from


def test_a_name_merged_and_cut_where_the_key_leaves_a_word_out_is_found_by_its_letters():
    # 'SUPPLY AND LOGISTICS' merged ('SUPPLYAND') and cut at 35 ('SUPPLYA'): no word of the key is a start of the
    # customer's; every letter written, in order, is.
    people = [*PEOPLE, CustomerRecord(50, "Blue Ridge Regional Medical Supply and Logistics Services Ltd."),
              CustomerRecord(51, "Copper Regional Logistics and Restaurant Group Services Inc."),
              CustomerRecord(52, "Falcon Regional Restaurant Group and Building Materials Services LLC")]
    found = pay("BLUE RIDGE REGIONAL MEDICAL SUPPLYA", people=people)
    merged_cut = REASON["cut at a limit"] + ", written without a space"
    assert found == {50: (STRENGTH["spaceless"], merged_cut.format(limit=35))}
    assert list(pay("COPPER REGIONAL LOGISTICSAND RESTAU", people=people)) == [51]
    # German MT940 writes the name in ?32 and ?33, 27 characters each: cut at 54.
    found = pay("COPPER REGIONAL LOGISTICS ANDRESTAURANT GROUP SERVICE", people=people)
    assert found == {51: (STRENGTH["spaceless"], merged_cut.format(limit=54))}
    # Merged and not cut: the letters are the customer's, all of them.
    found = pay("Falcon Regional Restaurant Group andBuilding Materials Services LLC", people=people)
    assert found == {52: (STRENGTH["spaceless"], "payer name written without a space")}
    # Too few letters to say whose name goes on from them, or a start nobody's goes on from.
    assert pay("BLUE RIDGE REGIONAL MEDICAL SUPPLYAND", people=people) == {}


def test_a_word_doubled_then_cut_and_a_doubled_run_of_words_are_read_as_the_name():
    people = [*PEOPLE, CustomerRecord(60, "Summit Harrington Industrial Tools Inc."),
              CustomerRecord(61, "Blue Ridge O'Neill Dental Supply Inc."),
              CustomerRecord(62, "Acme Pacific Coastal Industrial Industries LLC"),
              CustomerRecord(63, "Acme Pacific Coastal Industrial Tools LLC")]
    assert list(pay("SUMMIT HARRINGTON INDUSTRIAL INDUST", people=people)) == [60]  # 35: doubled, then cut
    assert list(pay("BLUE RIDGE O'NEILL O'NEILL DENTAL S", people=people)) == [61]  # two words doubled
    # Cut inside a word of its own: read as written first, so the other namesake is no rival.
    assert list(pay("ACME PACIFIC COASTAL INDUSTRIAL IND", people=people)) == [62]
