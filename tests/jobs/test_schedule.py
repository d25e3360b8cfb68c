"""Slot arithmetic: cron in a time zone, daylight-saving changes, catch-up policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from assay.jobs.schedule import (
    MAX_CATCHUP,
    NextSlots,
    check_timezone,
    due_slots,
    next_slot,
    slots_before,
    wall_to_utc,
)

BERLIN, NEW_YORK, UTCZ = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("UTC")


def u(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots(expr: str, tz: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    found = []
    for slot in slots_before(expr, tz, until):
        if slot <= after:
            break
        found.append(slot)
    return sorted(found)


def test_daily_in_a_time_zone():
    # 06:30 in Berlin is 05:30 UTC in winter (CET) and 04:30 UTC in summer (CEST)
    assert slots("30 6 * * *", BERLIN, u(2025, 1, 9), u(2025, 1, 11)) == [
        u(2025, 1, 9, 5, 30), u(2025, 1, 10, 5, 30)]
    assert slots("30 6 * * *", BERLIN, u(2025, 7, 9), u(2025, 7, 11)) == [
        u(2025, 7, 9, 4, 30), u(2025, 7, 10, 4, 30)]
    assert slots("0 9 * * 1-5", NEW_YORK, u(2025, 3, 7), u(2025, 3, 11)) == [
        u(2025, 3, 7, 14), u(2025, 3, 10, 13)]  # Friday EST, Monday EDT (changed on Sunday)


def test_spring_forward_skipped_time_runs_once_when_the_clock_jumps():
    # 2025-03-30: Berlin's clocks go from 02:00 CET to 03:00 CEST (01:00 UTC)
    assert slots("30 2 * * *", BERLIN, u(2025, 3, 28, 12), u(2025, 4, 1)) == [
        u(2025, 3, 29, 1, 30), u(2025, 3, 30, 1, 0), u(2025, 3, 31, 0, 30)]
    quarter = slots("*/15 * * * *", BERLIN, u(2025, 3, 30, 0, 30), u(2025, 3, 30, 1, 30))
    assert quarter == [u(2025, 3, 30, 0, 45), u(2025, 3, 30, 1, 0), u(2025, 3, 30, 1, 15),
                       u(2025, 3, 30, 1, 30)]  # each UTC instant once


def test_fall_back_repeated_time_runs_once():
    # 2025-10-26: Berlin's clocks go from 03:00 CEST back to 02:00 CET (01:00 UTC)
    assert slots("30 2 * * *", BERLIN, u(2025, 10, 24, 12), u(2025, 10, 28)) == [
        u(2025, 10, 25, 0, 30), u(2025, 10, 26, 0, 30), u(2025, 10, 27, 1, 30)]
    hourly = slots("0 * * * *", BERLIN, u(2025, 10, 25, 23, 30), u(2025, 10, 26, 3, 30))
    # wall 02:00 happens twice (00:00 and 01:00 UTC): the hourly job runs at the first
    assert hourly == [u(2025, 10, 26, 0), u(2025, 10, 26, 2), u(2025, 10, 26, 3)]


def test_slots_seen_from_the_repeated_hour():
    # now = 01:50 UTC = 02:50 CET, the second 02:50 of the night: every earlier slot is
    # in the past, including wall 02:55 (first pass, 00:55 UTC)
    found = slots("55 2 * * *", BERLIN, u(2025, 10, 26, 0), u(2025, 10, 26, 1, 50))
    assert found == [u(2025, 10, 26, 0, 55)]


def test_wall_to_utc_is_monotonic_over_both_changes():
    for day in (datetime(2025, 3, 30), datetime(2025, 10, 26)):
        walls = [day + timedelta(minutes=m) for m in range(0, 6 * 60, 5)]
        instants = [wall_to_utc(w, BERLIN) for w in walls]
        assert instants == sorted(instants)


def test_next_slot():
    assert next_slot("0 9 * * 1", NEW_YORK, u(2025, 3, 3, 14)) == u(2025, 3, 10, 13)
    assert next_slot("@hourly", UTCZ, u(2025, 1, 1, 0, 0)) == u(2025, 1, 1, 1)


# -- catch-up after downtime: a job due hourly, the service down from 06:10 to 11:20 ----

AFTER, NOW = u(2025, 5, 5, 6), u(2025, 5, 5, 11, 20)  # last slot considered: 06:00


def due(catchup: str, now: datetime = NOW, grace_s: float = 60, **kwargs):
    return due_slots("0 * * * *", UTCZ, after=AFTER, now=now, catchup=catchup,
                     grace_s=grace_s, **kwargs)


def test_catchup_all_runs_every_missed_slot():
    result = due("all")
    assert result.slots == [u(2025, 5, 5, h) for h in range(7, 12)]
    assert result.considered == u(2025, 5, 5, 11)


def test_catchup_latest_runs_only_the_most_recent():
    result = due("latest")
    assert (result.slots, result.considered) == ([u(2025, 5, 5, 11)], u(2025, 5, 5, 11))


def test_catchup_none_skips_what_is_late():
    result = due("none")
    assert (result.slots, result.considered) == ([], u(2025, 5, 5, 11))
    on_time = due("none", now=u(2025, 5, 5, 11, 0, 30))  # 30 s late: within the grace
    assert (on_time.slots, on_time.considered) == ([u(2025, 5, 5, 11)], u(2025, 5, 5, 11))


def test_catchup_all_is_capped_to_the_newest_slots():
    result = due_slots("* * * * *", UTCZ, after=u(2025, 1, 1), now=u(2025, 3, 1),
                       catchup="all", grace_s=60)
    assert len(result.slots) == MAX_CATCHUP
    assert result.slots[-1] == result.considered == u(2025, 3, 1)
    assert result.slots[0] == u(2025, 3, 1) - timedelta(minutes=MAX_CATCHUP - 1)


@pytest.mark.parametrize("catchup", ["none", "latest", "all"])
def test_nothing_new(catchup):
    result = due_slots("0 * * * *", UTCZ, after=u(2025, 5, 5, 11), now=u(2025, 5, 5, 11, 59),
                       catchup=catchup, grace_s=60)
    assert (result.slots, result.considered) == ([], None)


@pytest.mark.parametrize("catchup", ["none", "latest", "all"])
def test_on_time_ticks_give_each_slot_once(catchup):
    """A scheduler ticking every 20 s over 3 hours claims each hourly slot exactly once."""
    after, claimed = AFTER, []
    now = AFTER
    while now < AFTER + timedelta(hours=3):
        now += timedelta(seconds=20)
        result = due_slots("0 * * * *", UTCZ, after=after, now=now, catchup=catchup,
                           grace_s=60)
        claimed += result.slots
        after = result.considered or after
    assert claimed == [u(2025, 5, 5, h) for h in (7, 8, 9)]


def test_slot_exactly_at_now_is_due():
    result = due_slots("0 * * * *", UTCZ, after=AFTER, now=u(2025, 5, 5, 7), catchup="none",
                       grace_s=0)
    assert result.slots == [u(2025, 5, 5, 7)]


def test_berlin_job_across_the_spring_change_with_catchup_all():
    result = due_slots("30 2 * * *", BERLIN, after=u(2025, 3, 28), now=u(2025, 4, 1),
                       catchup="all", grace_s=60)
    assert result.slots == [u(2025, 3, 28, 1, 30), u(2025, 3, 29, 1, 30),
                            u(2025, 3, 30, 1, 0), u(2025, 3, 31, 0, 30)]


def test_naive_times_are_utc():
    aware = due_slots("0 * * * *", UTCZ, after=AFTER, now=NOW, catchup="all", grace_s=60)
    naive = due_slots("0 * * * *", UTCZ, after=AFTER.replace(tzinfo=None),
                      now=NOW.replace(tzinfo=None), catchup="all", grace_s=60)
    assert aware == naive


def test_check_timezone():
    assert check_timezone("Asia/Kolkata") == ZoneInfo("Asia/Kolkata")
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Springfield'"):
        check_timezone("Europe/Springfield")


def test_next_slots_skip_work_only_while_no_slot_can_be_due() -> None:
    slots = NextSlots()
    after = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # the slot: 00:30 Berlin = 23:30 UTC
    before, at = after + timedelta(minutes=29), after + timedelta(minutes=30)
    assert slots.nothing_due(1, "30 0 * * *", "Europe/Berlin", after, before)
    assert not slots.nothing_due(1, "30 0 * * *", "Europe/Berlin", after, at)
    # an edited schedule, zone or a claimed slot is a different question
    assert not slots.nothing_due(1, "29 0 * * *", "Europe/Berlin", after, before)
    assert not slots.nothing_due(1, "30 0 * * *", "UTC", after, before + timedelta(hours=2))
    slots.keep_only(set())
    assert slots._next == {}
