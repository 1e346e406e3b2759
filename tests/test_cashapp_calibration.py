"""The calibration of the matcher's confidence on the cash-application settings page: verdicts from the
tenant's history in bands, the threshold trade-off, the benchmark fallback, and the standalone chart."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from decimal import Decimal as D

import pytest
from django.urls import reverse

from cashapp import calibration
from cashapp.models import CashAppSettings, Suggestion
from cashapp.selectors import decision_confidence_counts
from cashapp.services import payment_apply, suggestion_accept, suggestion_reject
from o2c.charts import reliability_svg, write_reliability_svg
from o2c.ledger.posting import Line, Posting, post
from o2c.ledger.posting import reverse as reverse_applications
from o2c.models import Role
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import InvoiceFactory


def _payments(n: int, amount: str = "100.00") -> list[Payment]:
    import_credits([Credit(f"CAL-{i}", amount) for i in range(n)])
    return list(Payment.objects.order_by("pk"))[-n:]


def _auto(payment, invoices, confidence: str, source: str = "auto") -> list[int]:
    lines = [Line(i.pk, D("100.00") / len(invoices)) for i in invoices]
    return post([Posting(payment.pk, lines, source=source, confidence=D(confidence))]).application_ids[payment.pk]


def _suggest(payment, invoice, confidence: str) -> Suggestion:
    return Suggestion.objects.create(payment=payment, rank=1, confidence=D(confidence), explanation="test",
                                     allocations=[{"invoice_id": invoice.pk, "invoice_number": invoice.number,
                                                   "applied": "100.00", "discount": "0", "deduction": "0",
                                                   "deduction_reason": "", "write_off": "0"}])


def history(clerk):
    """Nine payments; six verdicts (hundredth: right?): 97 yes (one posting over two invoices), 96 no (reversed),
    72 yes (confirmed as proposed), 65 no (rejected), 83 no (re-split), 99 yes (confidence 1.000); a pending
    suggestion, a manual posting and a confirmed-then-superseded rank 2 carry no verdict."""
    CashAppSettings.objects.get_or_create(defaults={"match_after_import": False})
    p = _payments(9)
    inv = [InvoiceFactory(amount=D("100.00")) for _ in range(10)]
    _auto(p[0], [InvoiceFactory(amount=D("50.00")), InvoiceFactory(amount=D("50.00"))], "0.970")
    reverse_applications(_auto(p[1], [inv[1]], "0.960"), reason="wrong customer")
    suggestion_accept(suggestion=_suggest(p[2], inv[2], "0.725"), actor=clerk)
    suggestion_reject(suggestion=_suggest(p[3], inv[3], "0.650"), actor=clerk)
    suggestion_accept(suggestion=_suggest(p[4], inv[4], "0.830"), actor=clerk, allocations=[
        {"invoice_id": inv[5].pk, "invoice_number": inv[5].number, "applied": "100.00", "discount": "0",
         "deduction": "0", "deduction_reason": "", "write_off": "0"}])
    _auto(p[5], [inv[6]], "1.000")
    _suggest(p[6], inv[7], "0.900")  # pending
    payment_apply(payment=p[7], allocations=[{"invoice_id": inv[8].pk, "invoice_number": inv[8].number,
                                              "applied": "100.00"}], actor=clerk)
    second = Suggestion.objects.create(payment=p[8], rank=2, confidence=D("0.55"), explanation="second",
                                       allocations=[])
    suggestion_accept(suggestion=_suggest(p[8], inv[9], "0.880"), actor=clerk)  # supersedes rank 2
    return second


def test_the_selector_counts_one_verdict_per_decided_answer(member_factory, tenant, other_tenant):
    with tenant_context(other_tenant):  # another tenant's wrong postings must not count
        CashAppSettings.objects.create(match_after_import=False)
        [p] = _payments(1)
        reverse_applications(_auto(p, [InvoiceFactory(amount=D("100.00"))], "0.970"))
    clerk = member_factory(tenant)
    with tenant_context(tenant):
        _check_history(history(clerk))


def _check_history(second):
    second.refresh_from_db()
    assert second.status == "superseded"
    rows = {h: (n, s, r) for h, n, s, r in decision_confidence_counts()}
    assert rows == {65: (1, D("0.650"), 0), 72: (1, D("0.725"), 1), 83: (1, D("0.830"), 0), 88: (1, D("0.880"), 1),
                    96: (1, D("0.960"), 0), 97: (1, D("0.970"), 1), 99: (1, D("1.000"), 1)}
    # only the latest payments count: of the last three, one has a verdict (the confirmed 0.88)
    assert decision_confidence_counts(window=3) == [(88, 1, D("0.880"), 1)]
    cal = calibration.tenant_calibration()
    bands = {b.label: b for b in cal.bands}
    assert cal.decisions == 7 and not cal.enough
    assert (bands["0.95–0.99"].count, bands["0.95–0.99"].observed_right) == (2, 0.5)
    assert bands["0.95–0.99"].mean_confidence == pytest.approx(0.965)
    assert (bands["0.99–1.00"].count, bands["0.99–1.00"].observed_right) == (1, 1.0)
    assert (bands["0.60–0.70"].count, bands["0.60–0.70"].observed_right) == (1, 0.0)
    assert bands["0.50–0.60"].count == 0  # the superseded rank 2 is no verdict
    at = {str(t.threshold): t for t in cal.thresholds}
    assert at["0.80"].auto_share == pytest.approx(5 / 7)  # 83, 88, 96, 97, 99
    assert at["0.80"].wrong_per_1000_auto == pytest.approx(400)  # 83 and 96 wrong of 5
    assert at["0.80"].wrong_per_1000_payments == pytest.approx(2000 / 7)
    assert (at["0.97"].auto_share, at["0.97"].wrong_per_1000_auto) == (pytest.approx(2 / 7), 0)
    assert [str(t.threshold) for t in cal.thresholds] == [f"0.{n}" for n in range(80, 100)]


def test_calibration_from_counts_without_history():
    cal = calibration.calibration_from_counts([])
    assert cal.decisions == 0 and all(b.count == 0 for b in cal.bands)
    assert all(t.auto_share == 0 and t.wrong_per_1000_auto is None for t in cal.thresholds)


# --- the benchmark's report ------------------------------------------------------------------------------

REPORT = {"version": 1, "generated_at": "2026-12-04T20:00:00Z", "source": "bench/cashapp.py seed 2",
          "decisions": 1000, "bands": [
              {"low": 0.5, "high": 0.8, "count": 300, "mean_confidence": 0.66, "observed_right": 0.58},
              {"low": 0.8, "high": 0.95, "count": 500, "mean_confidence": 0.9, "observed_right": 0.93},
              {"low": 0.95, "high": 1.0, "count": 200, "mean_confidence": 0.98, "observed_right": 0.995}]}


def test_benchmark_report_absent_read_and_malformed(tmp_path):
    assert calibration.benchmark_calibration(tmp_path / "none.json").problem == "no benchmark calibration yet"
    good = tmp_path / "report.json"
    good.write_text(json.dumps(REPORT))
    report = calibration.benchmark_calibration(good)
    assert report.problem == "" and report.decisions == 1000 and [b.count for b in report.bands] == [300, 500, 200]
    for broken, why in [("{", "cannot be read"), (json.dumps({**REPORT, "version": 2}), "version 2"),
                        (json.dumps({**REPORT, "bands": [{"low": 0.5}]}), "malformed"),
                        (json.dumps({**REPORT, "bands": [REPORT["bands"][1], REPORT["bands"][0]]}), "overlaps"),
                        (json.dumps({**REPORT, "bands": [{**REPORT["bands"][0], "observed_right": 3}]}), "range")]:
        good.write_text(broken)
        result = calibration.benchmark_calibration(good)
        assert result.bands == [] and why in result.problem


def test_the_standalone_svg_for_the_benchmark_report(tmp_path):
    bands = calibration.benchmark_calibration(_write(tmp_path, REPORT)).bands
    path = write_reliability_svg(tmp_path / "reliability.svg", bands, title="Matcher <seed 2>")
    root = ET.parse(path).getroot()  # noqa: S314 - our own file; well-formed XML a browser opens on its own
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.find("s:style", ns) is not None
    assert len(root.findall("s:rect", ns)) == 3 and len(root.findall("s:circle", ns)) == 3
    assert root.find("s:title", ns).text == "Matcher <seed 2>"  # escaped in the file, read back as text
    assert "<style>" not in reliability_svg(bands)  # the page's chart takes its colours from app.css (CSP)
    as_read = reliability_svg(REPORT["bands"])  # the bands as dicts, straight from the JSON
    assert as_read == reliability_svg(bands) and "0.80–0.95: 500 answers, mean confidence 0.900, 93.0% right" in as_read


def _write(tmp_path, data):
    path = tmp_path / "calibration_report.json"
    path.write_text(json.dumps(data))
    return path


# --- the page --------------------------------------------------------------------------------------------

def _no_inline_script_or_style(html: str) -> None:
    main = html.split("<main", 1)[-1]
    assert "style=" not in main and "<style" not in main  # the CSP forbids inline styles
    assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", html))  # and inline scripts


def test_the_settings_page_with_history(tenant, member_factory, verified_client, monkeypatch):
    monkeypatch.setattr(calibration, "MIN_DECISIONS", 5)
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        history(admin)
        CashAppSettings.objects.update(auto_apply_threshold=D("0.950"))
    response = verified_client(admin).get(reverse("cashapp:settings"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "From your own history: 7 decided answers about your latest 20,000 payments" in html
    assert 'class="reliability-chart"' in html and 'class="threshold-chart"' in html
    assert "0.95–0.99: 2 answers, mean confidence 0.965, 50.0% right" in html
    assert re.search(r'<tr class="is-current"><td>0.95 \(now\)</td><td class="num">42.9 %</td>', html)
    assert "current threshold 0.95" in html and "calibration-too-little" not in html
    _no_inline_script_or_style(html)


def test_the_settings_page_without_history_shows_the_benchmark(tenant, member_factory, verified_client,
                                                               monkeypatch, tmp_path):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    client = verified_client(admin)
    monkeypatch.setattr(calibration, "REPORT_PATH", tmp_path / "absent.json")
    html = client.get(reverse("cashapp:settings")).content.decode()
    assert "Too little history to judge yet: 0 decided answers, and 200 are needed" in html
    assert "No benchmark calibration yet." in html and "reliability-chart" not in html
    monkeypatch.setattr(calibration, "REPORT_PATH", _write(tmp_path, REPORT))
    html = client.get(reverse("cashapp:settings")).content.decode()
    assert "Benchmark: bench/cashapp.py seed 2, 2026-12-04T20:00:00Z; 1000 answers." in html
    assert 'class="reliability-chart"' in html and "0.80–0.95: 500 answers" in html
    _no_inline_script_or_style(html)


def test_the_settings_page_counts_only_the_tenants_own_history(tenant, other_tenant, member_factory,
                                                               verified_client, monkeypatch):
    monkeypatch.setattr(calibration, "MIN_DECISIONS", 1)
    with tenant_context(other_tenant):
        history(member_factory(other_tenant))
    html = verified_client(member_factory(tenant, Role.TENANT_ADMIN)).get(reverse("cashapp:settings"))
    assert "Too little history to judge yet: 0 decided answers" in html.content.decode()
