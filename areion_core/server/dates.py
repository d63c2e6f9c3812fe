"""HTTP dates (RFC 9110 §5.6.7) without the ``email`` package, which costs a megabyte to import."""

from __future__ import annotations

import calendar
import functools
import time

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(_MONTHS)}
# The second and text of the Date header this process's servers are sending now (they
# refresh it once a second, so it can trail the clock by a tick).
_serving: tuple[int, str] = (0, "")


def http_date(timestamp: float | None = None) -> str:
    """``Sun, 06 Nov 1994 08:49:37 GMT`` (IMF-fixdate) for a UNIX time (default: now)."""
    t = time.gmtime(timestamp)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def serving_date() -> bytes:
    """A fresh Date header value, noted as the one this process now sends (servers call it)."""
    global _serving
    now = int(time.time())
    text = http_date(now)
    _serving = (now, text)
    return text.encode("ascii")


def origin_date(timestamp: float | None = None) -> str:
    """An HTTP date for ``timestamp`` (default now; never later than now) that is never later than the Date sent.

    RFC 9110 §8.8.2.1: a Last-Modified must not be later than the message's Date. The Date
    header is refreshed once a second, so right after a second ticks over it still shows
    the one before; this gives that second then.
    """
    now = int(time.time())
    second = now if timestamp is None else min(int(timestamp), now)
    served, text = _serving
    if served < second <= served + 2:
        return text
    return _date_of_second(second)


#: ``http_date`` of a whole second, remembered: a file's Last-Modified is the same for every
#: request that serves it.
_date_of_second = functools.lru_cache(maxsize=1024)(http_date)


def parse_http_date(text: str) -> float | None:
    """The UNIX time of an HTTP date, or None when it is not one.

    IMF-fixdate is parsed here; the two obsolete forms RFC 9110 still asks recipients to
    accept (RFC 850 and asctime) go through the standard library.
    """
    parts = text.split()
    if len(parts) == 6 and parts[5] == "GMT" and parts[0].endswith(","):
        try:
            day, month, year = int(parts[1]), _MONTH_NUMBER[parts[2]], int(parts[3])
            hour, minute, second = (int(p) for p in parts[4].split(":"))
            return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
        except (KeyError, ValueError):
            return None
    from email.utils import parsedate_tz  # the obsolete forms: rare enough to import lazily

    parsed = parsedate_tz(text)
    if parsed is None:
        return None
    return float(calendar.timegm(parsed[:9])) - (parsed[9] or 0)
