"""The SLA clock's business-hours arithmetic (disputes.sla): examples around weekends and DST, and
properties: monotone, always inside business hours, a+b == a then b, and consistent with the elapsed count."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disputes.sla import BusinessCalendar, add_business_hours, business_hours_between

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))


def cal(tz=BERLIN, start=time(9), end=time(17), days=WEEKDAYS):
    return BusinessCalendar(tz=tz, day_start=start, day_end=end, working_days=days)


def test_inside_one_day():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)  # a Tuesday
    assert add_business_hours(start, 4, cal()) == datetime(2026, 12, 1, 14, 0, tzinfo=BERLIN)


def test_rolls_over_the_weekend():
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=BERLIN)
    assert add_business_hours(friday, 4, cal()) == datetime(2026, 12, 7, 11, 0, tzinfo=BERLIN)


def test_start_outside_hours_begins_at_the_next_window():
    saturday_night = datetime(2026, 12, 5, 23, 0, tzinfo=BERLIN)
    assert add_business_hours(saturday_night, 0, cal()) == datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
    assert add_business_hours(saturday_night, 8, cal()) == datetime(2026, 12, 7, 17, 0, tzinfo=BERLIN)


def test_window_end_is_inside_and_the_next_hour_starts_the_next_day():
    end = datetime(2026, 12, 1, 17, 0, tzinfo=BERLIN)
    assert add_business_hours(end, 0, cal()) == end
    assert add_business_hours(end, 1, cal()) == datetime(2026, 12, 2, 10, 0, tzinfo=BERLIN)


def test_dst_night_does_not_shift_the_wall_clock_window():
    # Berlin moves to summer time in the night of Sat 28 to Sun 29 March 2026.
    friday = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)
    due = add_business_hours(friday, 2, cal())
    assert due == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert due.utcoffset() == timedelta(hours=2)


def test_utc_input_and_a_24_hour_window_across_dst():
    # a window that contains the change: 0:00-23:59 on the Sunday the clocks go back (25 hours long)
    calendar = cal(tz=NY, start=time(0), end=time(23, 59), days=frozenset({6}))
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 in New York, EDT
    assert add_business_hours(start, 24, calendar) == datetime(2026, 11, 1, 23, 0, tzinfo=NY)


@pytest.mark.parametrize("bad", [
    dict(days=frozenset()), dict(days=frozenset({7})), dict(start=time(17), end=time(9)),
])
def test_bad_calendars_are_refused(bad):
    with pytest.raises(ValueError):
        cal(**bad)


def test_naive_and_negative_are_refused():
    with pytest.raises(ValueError):
        add_business_hours(datetime(2026, 12, 1, 10), 1, cal())
    with pytest.raises(ValueError):
        add_business_hours(datetime(2026, 12, 1, 10, tzinfo=UTC), -1, cal())


ZONES = st.sampled_from([ZoneInfo(z) for z in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney",
                                                "Asia/Kolkata")])
calendars = st.builds(
    lambda tz, start, length, days: BusinessCalendar(tz=tz, day_start=time(start), day_end=time(start + length),
                                                     working_days=frozenset(days)),
    ZONES, st.integers(6, 10), st.integers(1, 10), st.sets(st.integers(0, 6), min_size=1))
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))
minutes = st.integers(0, 60 * 200).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(calendars, instants, instants, minutes)
def test_monotone(calendar, a, b, hours):
    early, late = sorted([a, b])
    assert add_business_hours(early, hours, calendar) <= add_business_hours(late, hours, calendar)


@settings(max_examples=150, deadline=None)
@given(calendars, instants, minutes)
def test_result_is_inside_business_hours(calendar, start, hours):
    due = add_business_hours(start, hours, calendar)
    local = due.astimezone(calendar.tz)
    assert local.weekday() in calendar.working_days
    assert calendar.day_start <= local.time().replace(tzinfo=None) <= calendar.day_end
    assert due >= start


@settings(max_examples=150, deadline=None)
@given(calendars, instants, minutes, minutes)
def test_adding_a_plus_b_is_adding_a_then_b(calendar, start, a, b):
    assert add_business_hours(start, a + b, calendar) == add_business_hours(add_business_hours(start, a, calendar),
                                                                            b, calendar)


@settings(max_examples=100, deadline=None)
@given(calendars, instants, minutes.filter(lambda m: m > timedelta(0)))
def test_elapsed_business_time_matches_what_was_added(calendar, start, hours):
    due = add_business_hours(start, hours, calendar)
    assert business_hours_between(start, due, calendar) == hours
