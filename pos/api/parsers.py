"""The one JSON parser of the terminal API. It refuses, as a 400 problem (413 for size), what a client can send
but nothing behind the edge can store or compute safely:

- bodies larger than `API_MAX_BODY_BYTES` (413; `pos.middleware.ApiInputGuardMiddleware` refuses a declared
  Content-Length before anything is read, this parser refuses a chunked body that turns out larger);
- JSON nested deeper than `API_MAX_JSON_DEPTH` (Python's parser would otherwise recurse until it fails);
- a lone UTF-16 surrogate (`"\\ud800"`) in any string or key: it cannot be encoded, stored or fingerprinted;
- a NUL character in any string or key: PostgreSQL text cannot hold it, so it is refused the same way everywhere;
- an integer outside the signed 64-bit range (every integer column is at most a BIGINT), a number beyond
  10**30 or below 10**-30, and NaN/Infinity. Fractions are read as exact Decimals, never floats.

Checking here, once, means every field of every endpoint, present and future, gets the same answer.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser as DRFJSONParser

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_EXPONENT = 30


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class InvalidJSON(exceptions.ParseError):
    default_code = "invalid_json"


def max_body_bytes() -> int:
    return settings.API_MAX_BODY_BYTES


def _parse_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidJSON(f"The number {text[:30]}{'...' if len(text) > 30 else ''} is out of range "
                          "(integers must fit in 64 bits).")
    return value


def _parse_decimal(text: str) -> Decimal:
    """Numbers with a fraction or exponent are read exactly (Decimal, never binary floating point)."""
    value = Decimal(text)
    if not value.is_finite() or abs(value.adjusted()) > MAX_EXPONENT:
        raise InvalidJSON(f"The number {text[:30]} is out of range.")
    return value


def _refuse_constant(name: str):
    raise InvalidJSON(f"{name} is not valid JSON.")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InvalidJSON(f"Text may not contain NUL characters ({where}).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJSON(f"Text may not contain lone surrogate characters ({where}).") from None


def check_document(data: object, max_depth: int) -> None:
    """Walk a parsed document without recursion: depth, text (NUL, lone surrogates). Raises InvalidJSON."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, "string")
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                raise InvalidJSON(f"JSON nested deeper than {max_depth} levels is refused.")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key, "key")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def loads(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJSON("The body is not valid UTF-8.") from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJSON("JSON nested too deeply is refused.") from None
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, and int() refusing thousands of digits
        raise InvalidJSON(f"Malformed JSON: {exc}") from None
    check_document(data, settings.API_MAX_JSON_DEPTH)
    return data


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        if not raw:
            return {}
        return loads(raw)
