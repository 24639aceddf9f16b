"""What a citizen waiting for a person is told, in one coherent message (issue 11).

- clerks online, in hours: the position in the queue and an expected wait (updated live in the widget);
- in hours, nobody online: the conversation stays queued, and they may leave a message and a contact;
- out of hours: when clerks are back, in the citizen's time zone when the widget sent it.

The schedule comes from the data (bot/clerk_hours.py: sites.yml's clerk hours, or an admin's change);
None means "always staffed" (tests, and desks that publish no schedule), so the wording then depends
only on who is online.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.clerk_hours import Schedule

# Minutes a clerk spends on one conversation, on average: the expected wait is this times the
# position, divided among the clerks online. A deliberate over-estimate rather than a promise.
MINUTES_PER_CONVERSATION = 4


@dataclass(frozen=True)
class WaitStatus:
    kind: str  # "position", "nobody" or "closed"
    values: dict[str, str | int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return {"position": "wait_position", "nobody": "nobody_online", "closed": "wait_closed"}[self.kind]

    @property
    def webchat_key(self) -> str | None:
        """rasa-webchat has no 留言 button: its wording asks for the question and a contact in the chat."""
        return None if self.kind == "position" else f"{self.key}_webchat"


def expected_minutes(position: int, clerks_online: int) -> int:
    return max(1, math.ceil(position * MINUTES_PER_CONVERSATION / max(1, clerks_online)))


def local_time(moment: datetime, zone: str | None, fallback: str) -> tuple[str, str]:
    """(the moment as "2026-12-01 01:30", the zone's name) in the citizen's zone, else the desk's."""
    try:
        tz = ZoneInfo(zone) if zone else ZoneInfo(fallback)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder, a long name too long
        tz = ZoneInfo(fallback)
    shown = moment.astimezone(tz)
    return shown.strftime("%Y-%m-%d %H:%M"), str(tz)


def wait_status(
    schedule: Schedule | None,
    position: int,
    clerks_online: int,
    hours: str,
    zone: str | None = None,
    now: datetime | None = None,
) -> WaitStatus:
    now = now or datetime.now(timezone.utc)
    if schedule is not None and not schedule.staffed(now):
        try:
            back, shown_zone = local_time(schedule.next_opening(now), zone, schedule.zone)
        except ValueError:
            # Closed for weeks by an admin's closures: no date to promise; the conversation stays queued.
            return WaitStatus("nobody", {"hours": hours})
        return WaitStatus("closed", {"hours": hours, "back": back, "zone": shown_zone})
    if clerks_online == 0:
        return WaitStatus("nobody", {"hours": hours})
    return WaitStatus("position", {"position": position, "minutes": expected_minutes(position, clerks_online)})
