"""Reading Open311 answers back: XML to plain data, and the GeoReport v2 JSON Schemas."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema

from intake.open311.render import ITEM_NAMES
from tests.conftest import real_data_folder
from tests.services import services_required

OWN_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "open311" / "georeport-v2.schema.json"
# The public schemas of open311/schema-validation, read from the real-data folder when present
# (licensed for testing, so never copied here); CI must have them.
SCHEMAS = real_data_folder() / "open311"
# Each public schema file and the definition of ours that states the same rules.
OWN_DEFINITIONS = {
    "request.json": "request",
    "service.json": "service",
    "service-definition.json": "service-definition",
}


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


def _own(schema: str) -> dict[str, Any]:
    """Our own rules for ``schema`` (``requests.json`` is an array of ``request.json`` items)."""
    rules: dict[str, Any] = json.loads(OWN_SCHEMA.read_text(encoding="utf-8"))
    listed = schema.endswith("s.json") and schema[:-6] + ".json" in OWN_DEFINITIONS
    item = OWN_DEFINITIONS[schema[:-6] + ".json" if listed else schema]
    ref = {"$ref": f"#/$defs/{item}"}
    return {"$defs": rules["$defs"], **({"type": "array", "items": ref} if listed else ref)}


def validate(document: Any, schema: str) -> None:
    """Validate against the GeoReport v2 field rules, and the datetimes' offsets.

    Our own statement of the rules always; the public schemas of open311/schema-validation too
    when the real-data folder holds them (always in CI).
    """
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.validate(document, _own(schema), format_checker=checker)
    if (SCHEMAS / schema).is_file():
        jsonschema.validate(
            document, _resolved(schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
    elif services_required():
        raise AssertionError(f"CI needs the public Open311 schema {SCHEMAS / schema}")
    for item in document if isinstance(document, list) else [document]:
        for key, value in item.items():
            if key.endswith("_datetime") and value is not None:
                parsed = datetime.fromisoformat(value)
                assert parsed.tzinfo is not None, f"{key} {value} has no offset"
