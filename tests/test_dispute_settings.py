"""The dispute settings page: business hours, time zone, working days, SLA hours; validation, audit, roles."""

from datetime import time

import pytest
from django.urls import reverse

from disputes import services
from disputes.catalogue import catalogue_ensure
from disputes.models import DisputeSettings
from o2c.errors import ApplicationError
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context

GOOD = {"time_zone": "Europe/Berlin", "day_start": "08:00", "day_end": "18:30", "working_days": ["0", "1", "2", "3"],
        "sla_new_hours": "2", "sla_triaged_hours": "6", "sla_in_review_hours": "30", "sla_waiting_customer_hours": "80"}


@pytest.fixture
def lead_client(tenant, member_factory, verified_client):
    return verified_client(member_factory(tenant, Role.FINANCE_LEAD))


def test_lead_saves_the_settings_and_it_is_audited(tenant, lead_client):
    page = lead_client.get(reverse("disputes:settings"))
    assert page.status_code == 200 and 'value="UTC"' in page.content.decode()
    response = lead_client.post(reverse("disputes:settings"), GOOD)
    assert response.status_code == 302
    with tenant_context(tenant):
        s = DisputeSettings.objects.get()
        assert (s.time_zone, s.day_start, s.day_end, s.working_days) == ("Europe/Berlin", time(8), time(18, 30),
                                                                        [0, 1, 2, 3])
        assert (s.sla_new_hours, s.sla_triaged_hours, s.sla_in_review_hours, s.sla_waiting_customer_hours) == (
            2, 6, 30, 80)
        event = AuditEvent.objects.get(action="dispute_settings.updated")
        assert event.changes["time_zone"] == ["UTC", "Europe/Berlin"]
        assert event.changes["working_days"] == ["[0, 1, 2, 3, 4]", "[0, 1, 2, 3]"]
        # The next clock runs on the new calendar.
        assert s.calendar().tz.key == "Europe/Berlin"
    assert 'value="Europe/Berlin"' in lead_client.get(reverse("disputes:settings")).content.decode()


@pytest.mark.parametrize("change,message", [
    ({"time_zone": "Mars/Olympus"}, "is not a time zone"),
    ({"time_zone": "../etc/passwd"}, "is not a time zone"),
    ({"day_start": "17:00", "day_end": "09:00"}, "must end after it starts"),
    ({"day_start": "09:00", "day_end": "09:00"}, "must end after it starts"),
    ({"sla_new_hours": "0"}, "greater than or equal to 1"),
    ({"sla_in_review_hours": "-4"}, "greater than or equal to 1"),
    ({"working_days": []}, "choose at least one working day"),
    ({"working_days": ["7"]}, "Select a valid choice"),
])
def test_bad_settings_are_refused_with_a_message_and_nothing_stored(tenant, lead_client, change, message):
    response = lead_client.post(reverse("disputes:settings"), {**GOOD, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    with tenant_context(tenant):
        s = catalogue_ensure()
        assert (s.time_zone, s.sla_new_hours, s.working_days) == ("UTC", 4, [0, 1, 2, 3, 4])
        assert not AuditEvent.objects.filter(action="dispute_settings.updated").exists()


def test_service_refuses_what_the_clock_cannot_use(in_tenant):
    with pytest.raises(ApplicationError, match="cannot be used"):
        services.dispute_settings_update(actor=None, day_start=time(10), day_end=time(9))
    with pytest.raises(ApplicationError, match="not a dispute setting"):
        services.dispute_settings_update(actor=None, last_number=99)
    assert catalogue_ensure().day_start == time(9)


@pytest.mark.parametrize("role,status", [(Role.TENANT_ADMIN, 200), (Role.AR_CLERK, 403), (Role.COLLECTOR, 403)])
def test_only_admins_and_leads_configure(tenant, member_factory, verified_client, role, status):
    client = verified_client(member_factory(tenant, role))
    assert client.get(reverse("disputes:settings")).status_code == status
    assert client.post(reverse("disputes:settings"), GOOD).status_code in ((302,) if status == 200 else (403,))


def test_settings_are_linked_under_settings_for_those_who_may(tenant, member_factory, verified_client):
    lead = verified_client(member_factory(tenant, Role.FINANCE_LEAD))
    assert reverse("disputes:settings") in lead.get(reverse("dashboard")).content.decode()
    clerk = verified_client(member_factory(tenant, Role.AR_CLERK))
    assert reverse("disputes:settings") not in clerk.get(reverse("dashboard")).content.decode()
