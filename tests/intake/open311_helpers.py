"""Reading Open311 answers back: XML to plain data, and the published JSON Schemas."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import jsonschema

from intake.open311.render import ITEM_NAMES
from tests.conftest import SHARED_DATA

SCHEMAS = SHARED_DATA / "open311"


def xml_data(text: str | bytes) -> tuple[str, Any]:
    """(root name, content) of an Open311 XML document, lists where the standard has lists."""
    root = ElementTree.fromstring(text)
    return root.tag, _read(root)


def _read(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return element.text
    item = ITEM_NAMES.get(element.tag)
    if item is not None and all(child.tag == item for child in children):
        return [_read(child) for child in children]
    return {child.tag: _read(child) for child in children}


def as_text(value: Any) -> Any:
    """JSON values as the XML carries them: text, booleans as true/false, None as None."""
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_text(item) for item in value] if value else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    return str(value)


def _resolved(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) >= {"$ref"} and str(node["$ref"]).endswith(".json"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**_resolved(str(node["$ref"])), **rest}
            return {key: resolve(item) for key, item in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


def validate(document: Any, schema: str) -> None:
    """Validate against open311/schema-validation's schema, and the datetimes' offsets."""
    jsonschema.validate(
        document, _resolved(schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    for item in document if isinstance(document, list) else [document]:
        for key, value in item.items():
            if key.endswith("_datetime") and value is not None:
                parsed = datetime.fromisoformat(value)
                assert parsed.tzinfo is not None, f"{key} {value} has no offset"
