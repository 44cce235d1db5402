"""Pure pieces of the split: reading legacy times and amounts exactly, normalising methods and roles. No I/O."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")
ROLE_MAP = {"owner": "manager", "admin": "manager", "manager": "manager", "cashier": "cashier",
            "waiter": "waiter", "server": "waiter"}
FALLBACK_ROLE = "waiter"  # the least privileged role: a waiter cannot adjust stock or refund
METHOD_MAP = {"cash": "cash", "card": "card", "visa": "card", "mastercard": "card", "master": "card",
              "credit card": "card", "kbzpay": "kbzpay", "kbz pay": "kbzpay", "kbz": "kbzpay", "wavepay": "wavepay",
              "wave pay": "wavepay", "wave": "wavepay", "wave money": "wavepay"}


def parse_time(value: Any, zone: ZoneInfo) -> tuple[datetime | None, bool]:
    """A legacy time as an aware datetime, and whether it carried its own offset. Times without an offset are
    the restaurant's local wall time; "Z" or "+hh:mm" are honoured. (None, False) when unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None, False
    else:
        return None, False
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone), False
    return moment, True


def local_day(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat() if moment is not None else "unknown"


def to_minor(value: Any, exponent: int) -> tuple[int | None, bool]:
    """An amount in minor units and whether it was exact. SQLite hands DECIMAL columns back as float: their
    shortest repr is the decimal text that was stored (up to 15 significant digits), so it is read from that."""
    if value is None or isinstance(value, bool):
        return None, False
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None, False
    if not amount.is_finite():
        return None, False
    scaled = amount.scaleb(exponent)
    rounded = scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(rounded), rounded == scaled


def method(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return METHOD_MAP.get(re.sub(r"\s+", " ", value.strip().lower()))


def username(value: Any) -> str:
    """A legacy login as a valid username: trimmed, lower case, other characters replaced by '.'."""
    text = str(value or "").strip().lower()
    return re.sub(r"[^\w.@+-]", ".", text)[:150] or "user"


def names(en: Any, my: Any, locales: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Names per locale of the restaurant; a missing one falls back to English. Returns the locales that did."""
    given = {"en": (en or "").strip(), "my": (my or "").strip()}
    result, filled = {}, []
    for locale in locales:
        text = given.get(locale) or ""
        if not text:
            text = given["en"] or next((t for t in given.values() if t), "")
            filled.append(locale)
        result[locale] = text[:200]
    return result, filled


def iso(day: date | None) -> str:
    return day.isoformat() if day else "unknown"
