"""Bank-file import into the database: every shared fixture, exactly once, all or nothing, remittance
advice linked in either order, tenants apart."""

from decimal import Decimal

import pytest

from cashapp.models import CashAppSettings
from o2c.tenancy import tenant_context
from payments.models import BankFile, BankStatement, Payment, RemittanceAdvice, RemittanceLine
from payments.parsers import CREDIT, parse_bank_file
from payments.services import BankFileRefused, bank_file_import
from tests.cashapp_support import Credit, camt053
from tests.test_bank_parsers import FIXTURE_FILES, FIXTURES, REFUSED, X12

D = Decimal


def _counts():
    return (BankFile.objects.count(), BankStatement.objects.count(), Payment.objects.count(),
            RemittanceAdvice.objects.count(), RemittanceLine.objects.count())


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"shared bank-file fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_imports_once_or_is_refused_storing_nothing(quiet, path):
    name = str(path.relative_to(FIXTURES))
    data = path.read_bytes()
    if name in REFUSED:
        with pytest.raises(BankFileRefused) as exc:
            bank_file_import(data=data, file_name=path.name)
        assert path.name in exc.value.message and REFUSED[name] in exc.value.message
        assert _counts() == (0, 0, 0, 0, 0)
        return
    parsed = parse_bank_file(data, file_name=path.name)
    credits = {(s.account, e.bank_reference) for s in parsed.statements for e in s.entries
               if e.direction == CREDIT and e.amount > 0 and not e.reversal}
    bank_file = bank_file_import(data=data, file_name=path.name)
    assert not bank_file.duplicate and bank_file.format == parsed.format
    # Entries repeating a reference within one file (the same entry listed twice) count as duplicates.
    assert bank_file.payments_created == len(credits) == Payment.objects.count()
    for payment in Payment.objects.all():
        assert payment.raw and payment.amount > 0 and payment.channel
        assert payment.unapplied_amount == payment.amount and payment.status == "unapplied"
    before = _counts()
    again = bank_file_import(data=data, file_name="renamed-" + path.name)
    assert again.duplicate and again.pk == bank_file.pk and _counts() == before


def test_the_same_entries_in_another_file_are_skipped(quiet):
    first = bank_file_import(data=camt053([Credit("A1", "10.00"), Credit("A2", "20.00")], statement_id="S-1"),
                             file_name="intraday.xml")
    second = bank_file_import(data=camt053([Credit("A2", "20.00"), Credit("A3", "30.00")], statement_id="S-2"),
                              file_name="eod.xml")
    assert (first.payments_created, second.payments_created, second.duplicates_skipped) == (2, 1, 1)
    assert sorted(Payment.objects.values_list("bank_reference", flat=True)) == ["A1", "A2", "A3"]
    assert Payment.objects.get(bank_reference="A2").bank_file_id == first.pk


def test_a_broken_file_stores_nothing_and_names_the_element(quiet):
    good = camt053([Credit("B1", "10.00"), Credit("B2", "20.00")]).decode()
    broken = good.replace('<Amt Ccy="USD">20.00</Amt>', '<Amt Ccy="USD">20,00x</Amt>').encode()
    with pytest.raises(BankFileRefused) as exc:
        bank_file_import(data=broken, file_name="broken.xml")
    assert "broken.xml" in exc.value.message and "Ntry[2]" in exc.value.message
    with pytest.raises(BankFileRefused, match="truncated.xml"):
        bank_file_import(data=good[: len(good) // 2].encode(), file_name="truncated.xml")
    assert _counts() == (0, 0, 0, 0, 0)


def test_an_entry_broken_after_lists_were_stored_still_stores_nothing(quiet, monkeypatch):
    """camt is stored list by list while it is read; a refusal in a later list rolls back the earlier ones."""
    import payments.parsers as parsers

    real = parsers.stream_bank_file
    monkeypatch.setattr("payments.services.stream_bank_file", lambda data, **kw: real(data, **{**kw, "chunk_size": 2}))
    good = camt053([Credit(f"C{i}", f"{i}.00") for i in range(1, 8)]).decode()
    broken = good.replace('<Amt Ccy="USD">6.00</Amt>', '<Amt Ccy="USD">6,00x</Amt>', 1)
    assert broken != good
    with pytest.raises(BankFileRefused) as exc:
        bank_file_import(data=broken.encode(), file_name="late.xml")
    assert "Ntry[6]" in exc.value.message
    assert _counts() == (0, 0, 0, 0, 0)
    bank_file = bank_file_import(data=good.encode(), file_name="good.xml")
    assert bank_file.payments_created == 7 == Payment.objects.count()


def _mt940(n: int) -> str:
    lines = [":20:LATE", ":25:DE89370400440532013000", ":28C:1/1", ":60F:C250101EUR0,00"]
    for i in range(1, n + 1):
        lines += [f":61:2501020102C{i},00NTRFE2E{i}//M{i}", f":86:166?20SVWZ+INV-{i}"]
    return "\n".join([*lines, f":62F:C250102EUR{n * (n + 1) // 2},00", "-"])


def _bai2(n: int) -> str:
    body = [f"16,195,{i}00,Z,B{i},C{i},PAYMENT {i}/" for i in range(1, n + 1)]
    total = sum(i * 100 for i in range(1, n + 1))
    return "\n".join(["01,BANKUS33,O2C,250102,0600,1,,,2/", "02,O2C,BANKUS33,1,250101,2400,USD,2/",
                      f"03,1234567890,USD,010,0,,,015,{total},,/", *body,
                      f"49,{2 * total},{n + 2}/", f"98,{2 * total},1,{n + 4}/", f"99,{2 * total},1,{n + 6}/"])


@pytest.mark.parametrize("fmt,good,broken,line", [
    ("mt940", _mt940(7), _mt940(7).replace(":61:2501020102C6,00", ":61:2501020102C6,0x"), 15),
    ("bai2", _bai2(7), _bai2(7).replace("16,195,600,", "16,195,6x0,"), 9),
    ("bai2", _bai2(7), _bai2(7).rsplit("\n", 1)[0], 12),  # refused at its very end: no file trailer
])
def test_mt940_and_bai2_broken_after_lists_were_stored_still_store_nothing(quiet, monkeypatch, fmt, good, broken,
                                                                           line):
    """MT940 and BAI2 are stored list by list while they are read, as camt is; a refusal further on rolls back
    the lists already stored."""
    import payments.parsers as parsers

    real = parsers.stream_bank_file
    monkeypatch.setattr("payments.services.stream_bank_file", lambda data, **kw: real(data, **{**kw, "chunk_size": 2}))
    assert broken != good
    with pytest.raises(BankFileRefused) as exc:
        bank_file_import(data=broken.encode(), file_name=f"late.{fmt}")
    assert f"late.{fmt}" in exc.value.message and f"line {line}" in exc.value.message
    assert _counts() == (0, 0, 0, 0, 0)
    bank_file = bank_file_import(data=good.encode(), file_name=f"good.{fmt}")
    assert bank_file.payments_created == 7 == Payment.objects.count()
    assert not bank_file.warnings


@pytest.mark.parametrize("advice_first", [True, False])
def test_remittance_advice_links_to_its_payment_in_either_order(quiet, advice_first):
    payment_file = camt053([Credit("CHK-5512", "1490.00", payer="ACME CORP")])
    steps = [(X12.encode(), "remit.820"), (payment_file, "statement.xml")]
    if not advice_first:
        steps.reverse()
    results = [bank_file_import(data=data, file_name=name) for data, name in steps]
    advice = RemittanceAdvice.objects.get()
    assert advice.payment == Payment.objects.get(bank_reference="CHK-5512")
    assert results[1].remittances_linked == 1
    assert sorted(advice.lines.values_list("reference", "amount_paid")) == [("INV-1", D("1000")), ("INV-2", D("490"))]
    # The matcher reads the advice's lines as the payment's remittance.
    from cashapp.records import payment_records

    [record] = payment_records([advice.payment_id])
    assert [line.reference for line in record.lines] == ["INV-1", "INV-2"]


def test_each_tenant_gets_its_own_copy(tenant, other_tenant):
    data = camt053([Credit("T1", "10.00")])
    for t in (tenant, other_tenant):
        with tenant_context(t):
            CashAppSettings.objects.create(match_after_import=False)
            assert bank_file_import(data=data, file_name="s.xml").payments_created == 1
    for t in (tenant, other_tenant):
        with tenant_context(t):
            assert list(Payment.objects.values_list("bank_reference", flat=True)) == ["T1"]


def test_import_command(tenant, tmp_path, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
    path = tmp_path / "statement.xml"
    path.write_bytes(camt053([Credit("C1", "10.00"), Credit("C2", "5.00")]))
    call_command("import_bank_file", str(path), tenant=tenant.slug)
    assert "2 payments created" in capsys.readouterr().out
    call_command("import_bank_file", str(path), tenant=tenant.slug)
    assert "was already imported" in capsys.readouterr().out
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<Document><nope")
    with pytest.raises(CommandError, match="bad.xml"):
        call_command("import_bank_file", str(bad), tenant=tenant.slug)


def test_the_command_line_leaves_nothing_for_the_exit_to_collect(tmp_path, capsys):
    # Run from the command line the process ends with the command: its objects are frozen out of the
    # collections at exit (0.3 s after a big import). call_command, in a long-lived process, must not freeze.
    import gc

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from payments.management.commands.import_bank_file import Command

    missing = str(tmp_path / "missing.xml")
    gc.unfreeze()
    try:
        with pytest.raises(CommandError, match="cannot read"):
            call_command("import_bank_file", missing, tenant="nobody")
        assert gc.get_freeze_count() == 0
        with pytest.raises(SystemExit):
            Command().run_from_argv(["manage.py", "import_bank_file", "--tenant", "nobody", missing])
        assert "cannot read" in capsys.readouterr().err
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_import_command_no_match_stores_the_file_without_a_matching_run(tenant, tmp_path, capsys):
    from django.core.management import call_command

    from cashapp.models import MatchingRun

    path = tmp_path / "statement.xml"
    path.write_bytes(camt053([Credit("N1", "10.00")]))
    call_command("import_bank_file", "--no-match", str(path), tenant=tenant.slug)
    assert "1 payments created" in capsys.readouterr().out
    again = tmp_path / "statement2.xml"
    again.write_bytes(camt053([Credit("N2", "12.00")]))
    with tenant_context(tenant):
        assert not MatchingRun.objects.exists()
    call_command("import_bank_file", str(again), tenant=tenant.slug)
    with tenant_context(tenant):
        assert MatchingRun.objects.count() == 1
