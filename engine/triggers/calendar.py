"""When a calendar rebalance is due: the period a clock time falls in (pure).

`day`, `week` and `month` are calendar periods in UTC: a day starts at 00:00, a week on Monday
00:00, a month on its first day 00:00 (what a person means by "monthly"). A fixed interval
(`"30d"`, `"8h"`, `"90m"`, `"2w"`) counts whole intervals since the Unix epoch instead, so
"30d" slots fall on whatever dates the epoch puts them.
"""

from __future__ import annotations

import re
import time
from typing import Callable

DAY_NS = 86_400 * 10**9
_UNIT_NS = {"m": 60 * 10**9, "h": 3_600 * 10**9, "d": DAY_NS, "w": 7 * DAY_NS}
_FIXED = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([mhdw])$")
CALENDAR = {"day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month",
            "monthly": "month"}


def _week(ns: int) -> int:
    # 1970-01-01 was a Thursday: shifting by 3 days makes Monday the first day of a slot
    return (ns // DAY_NS + 3) // 7


def _month(ns: int) -> int:
    t = time.gmtime(ns // 10**9)
    return t.tm_year * 12 + t.tm_mon - 1


def period_of(every: str) -> Callable[[int], int]:
    """The slot function for `every`: equal slots for two times in the same period. Raises
    ValueError naming what is accepted."""
    text = every.strip().lower()
    kind = CALENDAR.get(text)
    if kind == "day":
        return lambda ns: ns // DAY_NS
    if kind == "week":
        return _week
    if kind == "month":
        return _month
    m = _FIXED.match(text)
    if m is None:
        raise ValueError(f"{every!r} is not a period: use day, week, month or a fixed interval "
                         "such as 30d, 8h, 90m, 2w")
    step = int(float(m.group(1)) * _UNIT_NS[m.group(2)])
    if step <= 0:
        raise ValueError(f"{every!r}: the interval must be positive")
    return lambda ns: ns // step
