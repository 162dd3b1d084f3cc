"""Open311 GeoReport v2 documents in XML and JSON from the same plain data.

The JSON is the Spark-convention mapping of the XML: a list becomes a wrapping element with
one child per item, whose name this module knows (``services`` → ``service``); a field that is
None is left out of both (validators refuse an empty ``<expected_datetime />``), booleans are
``true``/``false``, datetimes ISO 8601 with their offset, and line endings are ``\n`` in both (an
XML parser turns CR LF into LF, so a raw CR would make the two formats disagree).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from fastapi import Response

from urbangrid.domain.bounds import xml_safe

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"

# The element name of one item of each list, as the standard and its extensions name them.
ITEM_NAMES = {
    "service_requests": "request",
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "photos": "photo",
    "notes": "note",
    "service_request_updates": "request_update",
}


def plain(value: Any) -> Any:
    """Datetimes as ISO 8601 text, line endings as LF, fields that are None left out.

    >>> from datetime import timezone, timedelta
    >>> plain(datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))))
    '2026-03-02T09:30:00+08:00'
    >>> plain({"description": "one\\r\\ntwo\\rthree", "expected_datetime": None})
    {'description': 'one\\ntwo\\nthree'}
    """
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def to_xml(root: str, value: Any) -> bytes:
    """One document: ``root`` wraps ``value`` (a list of items, or a mapping of fields).

    >>> print(to_xml("services", [{"service_code": "E0102", "metadata": True}]).decode())
    <?xml version="1.0" encoding="utf-8"?>
    <services><service><service_code>E0102</service_code><metadata>true</metadata></service></services>
    >>> to_xml("service_requests", [{"description": "bad\\ufffe\\x00"}]).decode().count("\\ufffd")
    2
    """
    element = ElementTree.Element(root)
    _fill(element, root, value)
    body = ElementTree.tostring(element, encoding="unicode")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body.encode("utf-8")


def _fill(element: ElementTree.Element, name: str, value: Any) -> None:
    value = plain(value)
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), key, item)
    elif isinstance(value, list):
        item_name = ITEM_NAMES.get(name, "item")
        for item in value:
            _fill(ElementTree.SubElement(element, item_name), item_name, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        # Intake refuses what XML cannot carry, but rows stored before it did (or imported from
        # elsewhere) may hold it: one such character would make the whole list unreadable.
        element.text = xml_safe(str(value))


def document(fmt: str, root: str, value: Any, *, status: int = 200) -> Response:
    """The response in the requested format; JSON drops the root, as the standard does."""
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status, media_type=XML_TYPE)
    body = json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate cannot be UTF-8: sent as "?" rather than failing the whole document.
    return Response(body.encode("utf-8", "replace"), status_code=status, media_type=JSON_TYPE)


def errors(
    fmt: str, status: int, descriptions: Sequence[str], headers: Mapping[str, str] | None = None
) -> Response:
    """The standard's error document: a list of ``{code, description}``."""
    response = document(
        fmt,
        "errors",
        [{"code": status, "description": text} for text in descriptions],
        status=status,
    )
    if headers:
        response.headers.update(headers)
    return response
