"""The bounds on every number, date and piece of text the system reads from outside.

A request names a case id, an offset, a day or an instant; a careless or hostile client sends
4,301 digits, ``²``, the year 1 or the year 9999. Each reader here says what a sane value is
and refuses anything else with a ``ValueError`` that reads well to the client, so no such value
reaches Python's ``int()`` digit limit, ``datetime``'s range or a 32-bit database column.

Text that is stored and later written into an XML document (Open311) must hold only
characters XML 1.0 allows, so that one report cannot make the whole list unreadable.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

# Case ids are 32-bit database integers: a larger number names no case, and would overflow.
MAX_CASE_ID = 2**31 - 1
# How far into a list a page may start: beyond any list this system holds, inside 64 bits.
MAX_OFFSET = 10_000_000

# Days and instants a question may name. Reports began in this century; a city's history
# imported from an older system does not reach before 1990, and nothing is due after 2100.
# Keeping a day's margin inside ``datetime``'s own range also keeps every time-zone shift
# (UTC+14 to UTC-12) of these instants representable.
EARLIEST_DAY = date(1990, 1, 1)
LATEST_DAY = date(2100, 12, 31)
EARLIEST = datetime(EARLIEST_DAY.year, 1, 1, tzinfo=UTC)
LATEST = datetime(LATEST_DAY.year + 1, 1, 1, tzinfo=UTC)

_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")

# XML 1.0 allows tab, LF, CR and everything from U+0020 except the surrogates and U+FFFE/U+FFFF.
# Also refused: DEL and the C1 controls (nobody types them, and XML 1.0 discourages them) and the
# Unicode non-characters (U+FDD0..U+FDEF and the last two code points of every plane).
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
    )
    + "]"
)


def parse_case_id(text: str) -> int:
    """A case id written in ASCII digits, 1 to ``MAX_CASE_ID``.

    >>> parse_case_id("42")
    42
    >>> parse_case_id("²")
    Traceback (most recent call last):
    ...
    ValueError: '²' is not a case id (a whole number from 1 to 2147483647)
    >>> parse_case_id("9" * 5000)
    Traceback (most recent call last):
    ...
    ValueError: '99999999999999999999…' is not a case id (a whole number from 1 to 2147483647)
    """
    # Only ASCII digits: str.isdigit() accepts ², ① and other scripts' digits that int() refuses
    # or reads, and int() refuses more than 4,300 digits outright.
    if _ASCII_DIGITS.fullmatch(text) and 1 <= (value := int(text)) <= MAX_CASE_ID:
        return value
    raise ValueError(f"{shorten(text)!r} is not a case id (a whole number from 1 to {MAX_CASE_ID})")


def check_day(day: date) -> date:
    """``day`` when it lies between ``EARLIEST_DAY`` and ``LATEST_DAY``.

    >>> check_day(date(2026, 3, 1))
    datetime.date(2026, 3, 1)
    >>> check_day(date(1, 1, 1))
    Traceback (most recent call last):
    ...
    ValueError: 0001-01-01 is outside 1990-01-01..2100-12-31
    """
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"{day.isoformat()} is outside {EARLIEST_DAY}..{LATEST_DAY}")
    return day


def check_instant(when: datetime) -> datetime:
    """``when`` (with a time zone) when it lies between ``EARLIEST`` and ``LATEST``, in UTC.

    >>> from datetime import timedelta, timezone
    >>> check_instant(datetime(2026, 3, 1, 8, tzinfo=timezone(timedelta(hours=8)))).isoformat()
    '2026-03-01T00:00:00+00:00'
    >>> check_instant(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
    Traceback (most recent call last):
    ...
    ValueError: 0001-01-01T00:00:00+14:00 is outside 1990-01-01..2100-12-31
    """
    if when.tzinfo is None:
        raise ValueError("give a time zone: Z or an offset such as +08:00")
    # Compare the naive wall-clock first: converting year 1 at UTC+14 to UTC overflows.
    if not EARLIEST_DAY <= when.date() <= LATEST_DAY:
        raise ValueError(f"{when.isoformat()} is outside {EARLIEST_DAY}..{LATEST_DAY}")
    return when.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """A W3C/ISO 8601 date-time with a time zone, within the bounds, in UTC.

    >>> parse_instant("2026-03-01T08:00:00+08:00").isoformat()
    '2026-03-01T00:00:00+00:00'
    >>> parse_instant("2026-03-01T08:00:00Z").isoformat()
    '2026-03-01T08:00:00+00:00'
    >>> parse_instant("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: 'yesterday' is not a date-time such as 2026-01-01T00:00:00Z
    """
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{shorten(text)!r} is not a date-time such as 2026-01-01T00:00:00Z"
        ) from None
    return check_instant(when)


def forbidden_character(text: str) -> str | None:
    """The first character of ``text`` that may not be stored (XML 1.0 forbids or discourages
    it), as ``U+XXXX``; None when there is none.

    >>> forbidden_character("井盖坏了\\nbroken\\tcover")
    >>> [forbidden_character(text) for text in ("a\\ufffeb", "\\x00", "\\ud800")]
    ['U+FFFE', 'U+0000', 'U+D800']
    >>> forbidden_character("\\U0010ffff")
    'U+10FFFF'
    """
    found = _FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry replaced by U+FFFD, for writing
    stored text (some from before intake refused them) into an XML document.

    >>> xml_safe("ok\\ufffe\\x00!")
    'ok\\ufffd\\ufffd!'
    """
    return _FORBIDDEN.sub("\ufffd", text)


def shorten(text: str, limit: int = 20) -> str:
    """``text`` cut to ``limit`` characters for an error message.

    >>> shorten("abc"), shorten("x" * 30, 5)
    ('abc', 'xxxxx…')
    """
    return text if len(text) <= limit else text[:limit] + "…"
