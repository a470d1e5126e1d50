"""When a calendar rebalance is due: the period a clock time falls in (pure).

`day`, `week` and `month` are calendar periods in UTC: a day starts at 00:00, a week on Monday
00:00, a month on its first day 00:00 (what a person means by "monthly"). A fixed interval
(`"30d"`, `"8h"`, `"90m"`, `"2w"`: m is minutes, lower case only, so "1M" is refused rather
than read as a minute) counts whole intervals since the Unix epoch instead, so "30d" slots fall
on whatever dates the epoch puts them.
"""

from __future__ import annotations

import calendar
import re
import time

DAY_NS = 86_400 * 10**9
_UNIT_NS = {"m": 60 * 10**9, "h": 3_600 * 10**9, "d": DAY_NS, "w": 7 * DAY_NS}
_FIXED = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([mhdw])$")
CALENDAR = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month",
            "monthly": "month"}


class Period:
    """`slot(ns)`: equal for two times in the same period; `next_start(ns)`: when the period
    after the one holding `ns` begins (a schedule need not look again before then)."""

    def __init__(self, kind: str, step_ns: int = 0) -> None:
        self.kind, self.step_ns = kind, step_ns

    def slot(self, ns: int) -> int:
        if self.kind == "month":
            t = time.gmtime(ns // 10**9)
            return t.tm_year * 12 + t.tm_mon - 1
        if self.kind == "week":
            # 1970-01-01 was a Thursday: shifting by 3 days makes Monday a slot's first day
            return (ns // DAY_NS + 3) // 7
        return ns // self.step_ns

    def next_start(self, ns: int) -> int:
        s = self.slot(ns) + 1
        if self.kind == "month":
            year, month0 = divmod(s, 12)
            return calendar.timegm((year, month0 + 1, 1, 0, 0, 0)) * 10**9
        if self.kind == "week":
            return (s * 7 - 3) * DAY_NS
        return s * self.step_ns


def period_of(every: str) -> Period:
    """The period `every` names; ValueError saying what is accepted otherwise."""
    text = every.strip()
    kind = CALENDAR.get(text.lower())
    if kind == "day":
        return Period("fixed", DAY_NS)
    if kind is not None:
        return Period(kind)
    m = _FIXED.match(text)
    if m is None:
        raise ValueError(f"{every!r} is not a period: use day, week, month or a fixed interval "
                         "such as 30d, 8h, 90m (minutes), 2w")
    step = int(float(m.group(1)) * _UNIT_NS[m.group(2)])
    if step <= 0:
        raise ValueError(f"{every!r}: the interval must be positive")
    return Period("fixed", step)
