"""Refund files: approved refunds -> a pain.001.001.03 that validates against the ISO 20022 XSD (checked here
with xmlschema on its own, not only by sepaxml), or a NACHA file whose every record, total and hash is right."""

import hashlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema

from o2c.errors import ApplicationError, ConflictError
from o2c.instructions import instruction_create, instruction_mark_done, refund_file_create
from o2c.instructions.nacha import NachaCredit, NachaOriginator, aba_valid, nacha_credit_file
from o2c.instructions.refund_files import iban_valid, us_account
from o2c.ledger import events as ev
from o2c.models import AuditEvent, PaymentInstruction, RefundFile, Role, TreasuryAccount
from payments.parsers import nacha as nacha_parser
from tests.factories import CustomerBankAccountFactory, CustomerFactory, member

D = Decimal
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"


@pytest.fixture
def lead(tenant):
    return member(tenant, Role.FINANCE_LEAD)


@pytest.fixture
def treasury(in_tenant):
    return TreasuryAccount.objects.create(
        debtor_name="Acme Industrial GmbH", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
        nacha_immediate_destination="021000021", nacha_destination_name="JPMORGAN CHASE",
        nacha_immediate_origin="1234567890", nacha_origin_name="ACME INDUSTRIAL", nacha_company_name="ACME INDUSTRIAL",
        nacha_company_id="1234567890", nacha_routing="026009593", nacha_account="000123456")


def refund(lead, customer, amount, currency):
    pi = instruction_create(kind="refund", customer_id=customer.pk, amount=D(amount), currency=currency,
                            origin_kind="dispute", origin_id=customer.pk, actor=lead, memo="overbilled freight")
    assert pi.status == "approved"
    return pi


def test_iban_and_routing_checks():
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("NL91ABNA0417164300")
    assert not iban_valid("DE89370400440532013001") and not iban_valid("not an iban")
    assert aba_valid("021000021") and aba_valid("011000015") and not aba_valid("021000022")
    assert us_account("021000021:12345678") == ("021000021", "12345678", False)
    assert us_account("021000021:12345678:savings") == ("021000021", "12345678", True)
    assert us_account("021000022:12345678") is None and us_account("DE89370400440532013000") is None


# --- pain.001 ------------------------------------------------------------------------------------

def test_sepa_refunds_become_a_pain001_that_validates_against_the_xsd(in_tenant, treasury, lead):
    müller = CustomerFactory(name="Müller & Söhne KG", currency="EUR")
    CustomerBankAccountFactory(customer=müller, account_identifier="NL91ABNA0417164300")
    other = CustomerFactory(name="Dupont SA", currency="EUR")
    CustomerBankAccountFactory(customer=other, account_identifier="GB29NWBK60161331926819")
    a, b = refund(lead, müller, "123.45", "EUR"), refund(lead, other, "10.00", "EUR")

    refund_file = refund_file_create(format="pain.001", instruction_ids=[b.pk, a.pk], actor=lead,
                                     execution_date=date(2026, 12, 7))

    content = refund_file.content.encode()
    assert refund_file.sha256 == hashlib.sha256(content).hexdigest()
    schema = xmlschema.XMLSchema(str(XSD))
    assert schema.target_namespace == NS
    schema.validate(content.decode())  # raises on any violation
    doc = schema.to_dict(content.decode())["CstmrCdtTrfInitn"]
    assert doc["GrpHdr"]["NbOfTxs"] == "2" and D(str(doc["GrpHdr"]["CtrlSum"])) == D("133.45")
    [payment_info] = doc["PmtInf"]
    assert payment_info["DbtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"
    assert payment_info["ReqdExctnDt"] == "2026-12-07"
    txs = {t["PmtId"]["EndToEndId"]: t for t in payment_info["CdtTrfTxInf"]}
    assert set(txs) == {a.number, b.number}
    assert txs[a.number]["CdtrAcct"]["Id"]["IBAN"] == "NL91ABNA0417164300"
    assert txs[a.number]["Cdtr"]["Nm"] == "Muller & Sohne KG"  # SEPA's character set
    assert D(str(txs[a.number]["Amt"]["InstdAmt"]["$"])) == D("123.45")
    assert (refund_file.count, refund_file.total, refund_file.currency) == (2, D("133.45"), "EUR")
    for pi in (a, b):
        pi.refresh_from_db()
        assert (pi.status, pi.refund_file_id) == ("sent", refund_file.pk) and pi.sent_at and pi.bank_account_id
    assert AuditEvent.objects.filter(action="payment_instruction.sent").count() == 2


def test_the_xsd_check_is_real_a_broken_file_fails_it(in_tenant, treasury, lead):
    customer = CustomerFactory(currency="EUR")
    CustomerBankAccountFactory(customer=customer, account_identifier="NL91ABNA0417164300")
    refund_file = refund_file_create(format="pain.001", instruction_ids=[refund(lead, customer, "1.00", "EUR").pk],
                                     actor=lead)
    broken = refund_file.content.replace("<ChrgBr>SLEV</ChrgBr>", "<ChrgBr>NONE</ChrgBr>")
    assert broken != refund_file.content
    assert not xmlschema.XMLSchema(str(XSD)).is_valid(broken)


def test_refund_then_confirmed_is_done_and_completed(in_tenant, treasury, lead):
    customer = CustomerFactory(currency="EUR")
    CustomerBankAccountFactory(customer=customer, account_identifier="NL91ABNA0417164300")
    pi = refund(lead, customer, "5.00", "EUR")
    got = []
    ev.handles(ev.InstructionCompleted)(got.extend)
    try:
        refund_file_create(format="pain.001", instruction_ids=[pi.pk], actor=lead)
        assert got == []  # sent is not done
        instruction_mark_done(instruction_id=pi.pk, actor=lead)
    finally:
        ev._handlers[ev.InstructionCompleted].remove(got.extend)
    assert [e.instruction_id for e in got] == [pi.pk]


def test_refund_files_refuse_what_cannot_be_paid_and_store_nothing(in_tenant, treasury, lead):
    eur = CustomerFactory(currency="EUR", name="No Account GmbH")
    usd = CustomerFactory()
    CustomerBankAccountFactory(customer=usd, account_identifier="021000021:998877")
    no_account = refund(lead, eur, "1.00", "EUR")
    in_usd = refund(lead, usd, "1.00", "USD")
    pending = instruction_create(kind="refund", customer_id=usd.pk, amount="1.00", currency="USD",
                                 origin_kind="dispute", origin_id=1, actor=None)
    credit = instruction_create(kind="credit_memo", customer_id=usd.pk, amount="1.00", currency="USD",
                                origin_kind="dispute", origin_id=1, actor=None)
    with pytest.raises(ApplicationError, match="No Account GmbH has no bank account with an IBAN"):
        refund_file_create(format="pain.001", instruction_ids=[no_account.pk], actor=lead)
    with pytest.raises(ApplicationError, match="is in USD; a pain.001 file pays EUR only"):
        refund_file_create(format="pain.001", instruction_ids=[in_usd.pk], actor=lead)
    with pytest.raises(ConflictError, match="pending approval; only approved refunds"):
        refund_file_create(format="nacha", instruction_ids=[in_usd.pk, pending.pk], actor=lead)
    with pytest.raises(ApplicationError, match="is a credit memo, not a refund"):
        refund_file_create(format="nacha", instruction_ids=[credit.pk], actor=lead)
    with pytest.raises(ApplicationError, match="no payment instruction with id 999999"):
        refund_file_create(format="nacha", instruction_ids=[999999], actor=lead)
    with pytest.raises(ApplicationError, match="unknown refund file format"):
        refund_file_create(format="mt103", instruction_ids=[in_usd.pk], actor=lead)
    with pytest.raises(ApplicationError, match="at least one"):
        refund_file_create(format="nacha", instruction_ids=[], actor=lead)
    assert not RefundFile.objects.exists()
    assert set(PaymentInstruction.objects.values_list("status", flat=True)) == {"approved", "pending_approval"}


def test_a_refund_is_sent_once(in_tenant, treasury, lead):
    customer = CustomerFactory()
    CustomerBankAccountFactory(customer=customer, account_identifier="021000021:998877")
    pi = refund(lead, customer, "3.00", "USD")
    refund_file_create(format="nacha", instruction_ids=[pi.pk], actor=lead)
    with pytest.raises(ConflictError, match="is sent; only approved refunds"):
        refund_file_create(format="nacha", instruction_ids=[pi.pk], actor=lead)


def test_no_treasury_account_is_a_clear_message(in_tenant, lead):
    customer = CustomerFactory()
    CustomerBankAccountFactory(customer=customer, account_identifier="021000021:998877")
    pi = refund(lead, customer, "3.00", "USD")
    with pytest.raises(ApplicationError, match="set up the treasury account"):
        refund_file_create(format="nacha", instruction_ids=[pi.pk], actor=lead)


# --- NACHA ---------------------------------------------------------------------------------------

ORIGINATOR = NachaOriginator(immediate_destination="021000021", destination_name="JPMorgan Chase",
                             immediate_origin="1234567890", origin_name="Acme Industrial",
                             company_name="Acme Industrial", company_id="1234567890", odfi_routing="026009593")


def test_nacha_writer_records_totals_hash_and_blocking():
    credits = [NachaCredit("021000021", "12345678", 12345, "Globex Corp", "PI-000001"),
               NachaCredit("011000015", "987654321", 100, "Initech", "PI-000002", savings=True)]
    text = nacha_credit_file(ORIGINATOR, credits, effective=date(2026, 12, 7), created=datetime(2026, 12, 4, 9, 30))
    lines = text.splitlines()
    assert all(len(line) == 94 for line in lines)
    assert len(lines) == 10 and lines[6:] == ["9" * 94] * 4  # 6 records padded to one block of 10
    header, batch, e1, e2, control, file_control = lines[:6]
    assert header[:3] == "101" and header[3:13] == " 021000021" and header[13:23] == "1234567890"
    assert header[23:29] == "261204" and header[34:40] == "094101"
    assert batch[:4] == "5220" and batch[50:53] == "CCD" and batch[53:63] == "REFUND    " and batch[69:75] == "261207"
    assert batch[79:87] == "02600959" and batch[87:94] == "0000001"
    assert e1[:12] == "622021000021" and e1[12:29] == "12345678".ljust(17) and e1[29:39] == "0000012345"
    assert e1[39:54] == "PI-000001".ljust(15) and e1[54:76] == "GLOBEX CORP".ljust(22)
    assert e1[79:94] == "026009590000001" and e2[1:3] == "32" and e2[79:94] == "026009590000002"
    entry_hash = 2100002 + 1100001
    assert control[:4] == "8220" and int(control[4:10]) == 2 and int(control[10:20]) == entry_hash
    assert int(control[20:32]) == 0 and int(control[32:44]) == 12445
    assert int(file_control[1:7]) == 1 and int(file_control[7:13]) == 1 and int(file_control[13:21]) == 2
    assert int(file_control[21:31]) == entry_hash and int(file_control[43:55]) == 12445


def test_nacha_writer_refuses_bad_routing_numbers():
    with pytest.raises(ValueError, match="021000022"):
        nacha_credit_file(ORIGINATOR, [NachaCredit("021000022", "1", 1, "X", "PI-1")], effective=date(2026, 1, 1),
                          created=datetime(2026, 1, 1))


def test_us_refunds_become_a_nacha_file_our_own_parser_reads_back_without_warnings(in_tenant, treasury, lead):
    customers = []
    for i, routing in enumerate(["021000021", "011000015"] * 6):
        customer = CustomerFactory(name=f"Payee {i}")
        savings = ":savings" if i % 2 else ""
        CustomerBankAccountFactory(customer=customer, account_identifier=f"{routing}:{1000 + i}{savings}")
        customers.append(customer)
    refunds = [refund(lead, c, f"{i + 1}.25", "USD") for i, c in enumerate(customers)]
    refund_file = refund_file_create(format="nacha", instruction_ids=[pi.pk for pi in refunds], actor=lead)
    lines = refund_file.content.splitlines()
    assert all(len(line) == 94 for line in lines) and len(lines) == 20  # 16 records, two blocks
    warnings: list[str] = []
    advices = nacha_parser.parse(refund_file.content.encode(), warnings)
    assert warnings == []  # batch and file controls: counts, hash and totals agree with the entries
    assert [(a.direction, a.payment_amount, a.payee_name) for a in advices] == [
        ("credit", D(f"{i + 1}.25"), f"PAYEE {i}") for i in range(12)]
    assert refund_file.total == sum(D(f"{i + 1}.25") for i in range(12))
    assert all(pi.status == "sent" for pi in PaymentInstruction.objects.filter(refund_file=refund_file))
