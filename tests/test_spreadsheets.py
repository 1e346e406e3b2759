"""Formula injection: every CSV o2c writes goes through o2c.spreadsheets, and hostile values that arrive by
the real imports (an ERP invoice file, a bank statement) come out of every export escaped, while the
amounts the exports compute stay numbers.

The enumerating test reads every module's syntax tree: a `csv.writer`, `csv.DictWriter` or an XLSX library
anywhere but o2c/spreadsheets.py fails it, so an export added later is covered without anyone remembering.
"""

from __future__ import annotations

import ast
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from cashapp.models import Suggestion
from cashapp.services import payment_apply
from o2c.instructions import instruction_create
from o2c.models import Invoice, Role
from o2c.services.invoice_import import invoice_import_csv
from o2c.spreadsheets import FORMULA_START, safe_cell, write_csv
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import member

ROOT = Path(__file__).resolve().parents[1]
SAFE_WRITER = ROOT / "o2c" / "spreadsheets.py"
CSV_WRITERS = {"writer", "DictWriter"}
XLSX_LIBRARIES = {"openpyxl", "xlsxwriter", "xlwt", "pyexcel", "odf"}

HYPERLINK = '=HYPERLINK("http://evil","x")'
FULL_WIDTH = "＠SUM(A1)"  # Excel with a Japanese input locale reads it as @SUM(A1)
HOSTILE = [HYPERLINK, "+1+1", "-2+3", "@SUM(A1)", "\tcmd"]
D = Decimal


# --- the writer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [*HOSTILE, "\rcmd", "\ncmd", "＝1+1", "＋1", "－1", "＠SUM(A1)", "-10.00"])
def test_text_that_starts_a_formula_is_quoted(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["INV-1", "", " =1", "a=b", "'=1", "10.00"])
def test_other_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_stay_numbers_and_data_text_does_not():
    """The cell type decides: a negative amount the export computes stays a number a spreadsheet sums; the
    same characters as text from the data are escaped."""
    stream = io.StringIO()
    write_csv(stream, ["ref", "amount", "count", "ratio", "po"],
              [["-2+3", D("-10.00"), -3, -0.5, "-10.00"], [None, D("-Infinity"), True, float("nan"), "x"]])
    assert stream.getvalue().splitlines() == ["ref,amount,count,ratio,po", "'-2+3,-10.00,-3,-0.5,'-10.00",
                                              ",'-Infinity,True,nan,x"]


# --- every writer goes through it ------------------------------------------------------------------

def _python_files():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        # bench/ writes the benchmarks' own data (bank files, an invoice export, truth tables), never what o2c gives
        # a clerk: those files must hold what a bank or an ERP would send, escaping included or not.
        if parts[0] not in {"tests", "var", "bench"} and not parts[0].startswith(".") and "migrations" not in parts:
            yield path


def spreadsheet_writers(path: Path, root: Path = ROOT) -> list[str]:
    """Lines of `path` that write CSV or XLSX other than through o2c.spreadsheets."""
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(root)
    csv_names = {"csv"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import)
                           for a in n.names if a.name == "csv" and a.asname}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in CSV_WRITERS and getattr(node.value, "id", "") in csv_names:
            found.append(f"{where}:{node.lineno} csv.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "csv":
            found += [f"{where}:{node.lineno} from csv import {a.name}" for a in node.names
                      if a.name in CSV_WRITERS | {"*"}]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{where}:{node.lineno} imports {m}" for m in modules if m.split(".")[0] in XLSX_LIBRARIES]
    return found


def test_no_module_but_the_safe_writer_writes_spreadsheets():
    files = [p for p in _python_files() if p != SAFE_WRITER]
    assert {"exports.py", "api.py", "export_deductions.py"} <= {p.name for p in files}  # the walker sees them
    assert [hit for p in files for hit in spreadsheet_writers(p)] == []


def test_the_check_catches_a_writer(tmp_path):
    """An aliased module, a `from csv import`, an XLSX library: each is named with its line."""
    module = tmp_path / "export_more.py"
    module.write_text("import csv as c\nfrom csv import DictWriter\nimport openpyxl\n\n"
                      "def f(out):\n    return c.writer(out)\n")
    assert sorted(spreadsheet_writers(module, tmp_path)) == [
        "export_more.py:2 from csv import DictWriter", "export_more.py:3 imports openpyxl",
        "export_more.py:6 csv.writer"]


# --- end to end: hostile imports through every export ----------------------------------------------

def _invoice_file() -> bytes:
    out = io.StringIO()
    rows = csv.writer(out)
    rows.writerow(["invoice_number", "customer_id", "customer_name", "issue_date", "due_date", "amount", "currency",
                   "po_number", "discount_percent", "discount_due_date"])
    for number, customer_id, name, amount, po in [
            (HYPERLINK, "EVIL-1", "@SUM(A1)", "100.00", "+1+1"),
            ("+1+1", "EVIL-1", "@SUM(A1)", "200.00", "-2+3"),
            ("-2+3", "@EVIL-2", HYPERLINK, "300.00", "@SUM(A1)"),
            ("@SUM(A1)", "@EVIL-2", FULL_WIDTH, "400.00", HYPERLINK),  # the last row's name wins
            ("\tcmd", "EVIL-1", "\tcmd", "50.00", "\tcmd")]:
        rows.writerow([number, customer_id, name, "2025-10-01", "2025-10-31", amount, "USD", po, "", ""])
    return out.getvalue().encode()


def _alloc(invoice, applied, deduction="0", reason=""):
    return {"invoice_id": invoice.pk, "invoice_number": invoice.number, "applied": str(applied), "discount": "0",
            "deduction": str(deduction), "deduction_reason": reason, "write_off": "0"}


@pytest.fixture
def hostile_world(tenant):
    """Invoices from an ERP file and payments from a camt.053 statement, each carrying hostile text; one
    payment applied with a short pay (a deduction), one with a pending suggestion, one left unapplied, and a
    payment instruction whose memo a clerk typed."""
    clerk = member(tenant, Role.FINANCE_LEAD)
    with tenant_context(tenant):
        invoice_import_csv(data=_invoice_file(), file_name="erp.csv", actor=clerk)
        inv = {i.number: i for i in Invoice.objects.all()}
        import_credits([Credit(HYPERLINK, "100.00"), Credit("-2+3", "250.00"), Credit("@SUM(A1)", "300.00"),
                        Credit("+1+1", "60.00")])
        pay = {p.bank_reference: p for p in Payment.objects.all()}
        payment_apply(payment=pay[HYPERLINK], allocations=[_alloc(inv[HYPERLINK], "90.00", "10.00", "pricing")],
                      actor=clerk)
        Suggestion.objects.create(payment=pay["-2+3"], rank=1, customer_id=None, confidence=D("0.700"),
                                  explanation="amount equal", allocations=[_alloc(inv["+1+1"], "200.00")])
        instruction_create(kind="credit_memo", customer_id=inv["-2+3"].customer_id, amount="25.00", currency="USD",
                           origin_kind="dispute", origin_id=5, invoice_id=inv["-2+3"].pk, memo="\tcmd", actor=clerk)
    return {"clerk": clerk, "numbers": set(inv)}


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_no_formula(rows: list[list[str]], number_columns: set[str]):
    """No cell a spreadsheet would run: text never starts a formula; amount columns hold plain numbers."""
    header = rows[0]
    for row in rows[1:]:
        for column, cell in zip(header, row, strict=True):
            if column in number_columns:
                assert Decimal(cell).is_finite(), (column, cell)  # a plain number, no quote in front
            else:
                assert not cell.startswith(FORMULA_START), (column, cell)


def test_the_hostile_values_arrived_as_they_were_sent(hostile_world, tenant):
    """The imports keep the text (nothing to escape otherwise); the ERP file's cells are trimmed, so a
    leading tab of an invoice number does not survive the import, only a memo's."""
    assert hostile_world["numbers"] == {HYPERLINK, "+1+1", "-2+3", "@SUM(A1)", "cmd"}
    with tenant_context(tenant):
        assert set(Payment.objects.values_list("bank_reference", flat=True)) == {HYPERLINK, "-2+3", "@SUM(A1)",
                                                                                 "+1+1"}


def test_cash_application_export_escapes_bank_references_and_invoice_numbers(hostile_world, tenant, tmp_path):
    out = tmp_path / "cash.csv"
    call_command("export_cash_application", tenant=tenant.slug, out=str(out))
    rows = _read(out.read_text())
    assert rows[0] == ["payment_reference", "invoice_number", "applied_amount", "deduction_amount", "status"]
    assert rows[1:] == [
        ["'" + HYPERLINK, "'" + HYPERLINK, "90.00", "10.00", "applied"],
        ["'" + HYPERLINK, "", "10.00", "0.00", "unapplied"],
        ["'-2+3", "'+1+1", "200.00", "0.00", "suggested"],
        ["'-2+3", "", "50.00", "0.00", "unapplied"],
        ["'@SUM(A1)", "", "300.00", "0.00", "unapplied"],
        ["'+1+1", "", "60.00", "0.00", "unapplied"],
    ]
    _assert_no_formula(rows, {"applied_amount", "deduction_amount"})


def test_deductions_export_command_and_api_escape_the_same_way(hostile_world, tenant, tmp_path, verified_client):
    out = tmp_path / "deductions.csv"
    call_command("export_deductions", tenant=tenant.slug, out=str(out))
    expected = [["payment_reference", "invoice_number", "amount", "reason", "status", "source"],
                ["'" + HYPERLINK, "'" + HYPERLINK, "10.00", "pricing", "open", "cash_application"]]
    assert _read(out.read_text()) == expected
    response = verified_client(hostile_world["clerk"]).get(reverse("api_deductions_export"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="deductions.csv"'
    assert _read(response.content.decode()) == expected
    _assert_no_formula(expected, {"amount"})


def test_payment_instructions_export_escapes_customer_invoice_and_memo(hostile_world, verified_client):
    response = verified_client(hostile_world["clerk"]).get(reverse("api_instruction_csv"))
    rows = _read(response.content.decode())
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["customer_external_id"], row["customer_name"], row["invoice_number"], row["memo"]) == \
        ("'@EVIL-2", "'" + FULL_WIDTH, "'-2+3", "'\tcmd")
    assert (row["amount"], row["origin_id"]) == ("25.0000", "5")  # numbers, not escaped
    _assert_no_formula(rows, {"id", "amount", "origin_id"})
