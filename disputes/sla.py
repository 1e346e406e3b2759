"""Business-hours arithmetic for the dispute SLA clock. Pure: no database, no settings.

A tenant works on some weekdays (0 = Monday) inside one daily window of wall-clock time in its own time
zone. `add_business_hours` moves an aware instant forward by N hours counted only inside those windows.
Windows are turned into real instants (UTC) before any arithmetic, so a DST change is handled by
zoneinfo: an hour inside a window is an hour of real time, and a+b hours equals a hours then b hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MAX_DAYS_SEARCHED = 14  # a calendar with one working day a week still finds a window within 7 days


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    day_start: time
    day_end: time
    working_days: frozenset[int]  # 0 = Monday ... 6 = Sunday

    def __post_init__(self):
        if not self.working_days or not self.working_days <= set(range(7)):
            raise ValueError("working days must be a non-empty set of weekday numbers 0..6")
        if self.day_end <= self.day_start:
            raise ValueError("the business day must end after it starts")

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's business window as UTC instants, or None on a day off."""
        if day.weekday() not in self.working_days:
            return None
        start = datetime.combine(day, self.day_start, tzinfo=self.tz).astimezone(UTC)
        end = datetime.combine(day, self.day_end, tzinfo=self.tz).astimezone(UTC)
        return start, end

    def next_window(self, moment: datetime) -> tuple[datetime, datetime]:
        """The part of the first window that ends after `moment` and lies at or after it."""
        day = moment.astimezone(self.tz).date() - timedelta(days=1)  # a window can straddle UTC midnight
        for offset in range(_MAX_DAYS_SEARCHED):
            window = self.window(day + timedelta(days=offset))
            if window and window[1] > moment:
                return max(window[0], moment), window[1]
        raise AssertionError("no business window found")  # unreachable: working_days is non-empty

    def is_inside(self, moment: datetime) -> bool:
        day = moment.astimezone(self.tz).date()
        window = self.window(day)
        return bool(window) and window[0] <= moment <= window[1]


def add_business_hours(start: datetime, hours: int | float | timedelta, calendar: BusinessCalendar) -> datetime:
    """`start` plus `hours` of business time, as an aware datetime in the calendar's zone.

    Adding zero to an instant outside business hours gives the next window's start; the result is
    always inside a window (its end included).
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
    if remaining < timedelta(0):
        raise ValueError("cannot add negative business hours")
    moment = start.astimezone(UTC)
    if remaining == timedelta(0) and calendar.is_inside(moment):
        return moment.astimezone(calendar.tz)
    while True:
        begin, end = calendar.next_window(moment)
        if remaining <= end - begin:
            return (begin + remaining).astimezone(calendar.tz)
        remaining -= end - begin
        moment = end


def business_hours_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
    """Business time from `start` to `end` (zero when end is not after start): the clock's elapsed part."""
    total = timedelta(0)
    moment = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while moment < end:
        begin, window_end = calendar.next_window(moment)
        if begin >= end:
            break
        total += min(window_end, end) - begin
        moment = window_end
    return total
