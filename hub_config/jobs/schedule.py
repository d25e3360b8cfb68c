"""Cron schedules in a time zone: which slots are due since the last one considered.

Pure: no clock, no database. A *slot* is the UTC instant of one scheduled run. Cron
fields are read in the job's wall-clock time (``zoneinfo``), with cron's own answers
to daylight-saving changes:

- a wall time the clock skips (02:30 on a spring-forward night in Europe) runs at the
  moment the clock jumps (03:00 local), once;
- a wall time that happens twice (02:30 on a fall-back night) runs once, the first time.

Catch-up after downtime (``catchup``): ``none`` runs only slots that are on time (at
most ``grace_s`` old), ``latest`` the most recent missed slot, ``all`` every missed slot
up to ``cap`` (the most recent ones; older ones are skipped and logged by the caller).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

CatchUp = Literal["none", "latest", "all"]
CATCHUP_POLICIES: tuple[str, ...] = ("none", "latest", "all")
ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MAX_CATCHUP = 100
CRON_HELP = ("five cron fields 'minute hour day-of-month month day-of-week' "
             "(e.g. '30 6 * * 1-5') or one of " + ", ".join(ALIASES))
_GAP_SCAN = timedelta(hours=3)  # the longest daylight-saving jump there is, with margin


@dataclass(frozen=True)
class Due:
    """``slots`` to claim now (ascending); ``considered``: the newest slot at or before
    now, which becomes the job's ``last_slot`` (None: nothing new since ``after``)."""

    slots: list[datetime]
    considered: datetime | None


def check_cron(expr: object) -> str:
    """The expression, stripped; ValueError naming what is valid otherwise."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"must be {CRON_HELP}, got {expr!r}")
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise ValueError(f"unknown cron alias {text!r}; valid aliases: "
                             + ", ".join(ALIASES))
        return text.lower()
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise ValueError(f"must be {CRON_HELP}, got {expr!r}")
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except Exception:  # croniter gives up on e.g. '0 0 31 2 *' (never)
        raise ValueError(f"cron expression {expr!r} never fires") from None
    return text


def check_timezone(name: object) -> ZoneInfo:
    """The zone of an IANA name such as ``Europe/Berlin``; ValueError otherwise."""
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in name:
        raise ValueError(f"must be an IANA time zone such as 'UTC' or 'Europe/Berlin', "
                         f"got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'UTC', "
                         "'Europe/Berlin' or 'America/New_York'") from None


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (naive values are taken as UTC, as SQLite returns them)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall time in ``tz`` → its slot in UTC (first of a repeated time; a skipped
    time moves to the moment the clock jumps). Non-decreasing in ``wall``."""
    if _exists(wall, tz):
        return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    later = wall
    while not _exists(later, tz) and later - wall < _GAP_SCAN:
        later = (later + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return later.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _latest_wall_at_or_before(until: datetime, tz: ZoneInfo) -> datetime:
    """The latest wall time whose slot is at or before ``until``: in the second pass of a
    repeated hour, wall times up to the end of that hour already lie in the past."""
    local = until.astimezone(tz)
    shift = local.replace(fold=0).utcoffset() - local.utcoffset()
    return local.replace(tzinfo=None) + max(shift, timedelta(0))


def slots_before(expr: str, tz: ZoneInfo, until: datetime) -> Iterator[datetime]:
    """Slots at or before ``until``, newest first, each once."""
    until = utc(until)
    start = _latest_wall_at_or_before(until, tz) + timedelta(seconds=1)
    walls = croniter(expr, start)
    previous: datetime | None = None
    while True:
        slot = wall_to_utc(walls.get_prev(datetime), tz)
        if slot <= until and slot != previous:
            previous = slot
            yield slot


def next_slot(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first slot strictly after ``after`` (for "next run" displays)."""
    after = utc(after)
    walls = croniter(expr, after.astimezone(tz).replace(tzinfo=None) - _GAP_SCAN)
    while True:
        slot = wall_to_utc(walls.get_next(datetime), tz)
        if slot > after:
            return slot


def due_slots(expr: str, tz: ZoneInfo, *, after: datetime, now: datetime,
              catchup: CatchUp, grace_s: float, cap: int = MAX_CATCHUP) -> Due:
    """The slots in (``after``, ``now``] to run under ``catchup``."""
    after, now = utc(after), utc(now)
    on_time = now - timedelta(seconds=grace_s)
    found: list[datetime] = []
    for slot in slots_before(expr, tz, now):
        if slot <= after:
            break
        if catchup == "none" and slot < on_time:
            if not found:
                found.append(slot)  # only to report it as considered
            break
        found.append(slot)
        if catchup == "latest" or len(found) >= cap:
            break
    if not found:
        return Due([], None)
    considered = found[0]
    slots = [s for s in found if catchup != "none" or s >= on_time]
    return Due(sorted(slots), considered)


class NextSlots:
    """Each job's next slot, remembered between scheduler passes: while ``now`` is before
    it, nothing can be due and ``due_slots`` (croniter, ~0.2 ms a job) is skipped."""

    def __init__(self) -> None:
        self._next: dict[int, tuple[tuple[str, str, datetime], datetime]] = {}

    def nothing_due(self, job_id: int, expr: str, timezone: str, after: datetime,
                    now: datetime) -> bool:
        key = (expr, timezone, utc(after))
        cached = self._next.get(job_id)
        if cached is None or cached[0] != key:
            cached = (key, next_slot(expr, check_timezone(timezone), after))
            self._next[job_id] = cached
        return utc(now) < cached[1]

    def keep_only(self, job_ids: set[int]) -> None:
        """Forget jobs that are gone or no longer scheduled."""
        for gone in self._next.keys() - job_ids:
            del self._next[gone]
