"""The category taxonomy (部件/事件) as plain data, read from YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from urbangrid.domain.timelimits import parse_limit, parse_limits

STARTER = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"
_CODE = re.compile(r"^[CE]\d{4}$")
STAGES = ("file", "dispatch", "check")
# Used when a taxonomy file names no ``stage_limits`` of its own.
STARTER_STAGE_LIMITS = {"file": "1wh", "dispatch": "1wh", "check": "1wd"}


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name_zh: str
    name_en: str
    department_kind: str
    time_limit: str
    needs_verification: bool = False
    file_limit: str = STARTER_STAGE_LIMITS["file"]
    dispatch_limit: str = STARTER_STAGE_LIMITS["dispatch"]
    check_limit: str = STARTER_STAGE_LIMITS["check"]
    case_limit: str = ""  # "": the four stage limits one after another
    auto_dispatch: bool = True

    @property
    def family(self) -> str:
        """``component`` (部件, C…) or ``event`` (事件, E…).

        >>> CategorySpec("E0102", "暴露垃圾", "Exposed rubbish", "sanitation", "4wh").family
        'event'
        """
        return "component" if self.code.startswith("C") else "event"

    @property
    def major(self) -> str:
        return self.code[1:3]

    @property
    def minor(self) -> str:
        return self.code[3:5]


@dataclass(frozen=True)
class MajorClassSpec:
    family: str  # component | event
    major: str  # two digits
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Taxonomy:
    department_kinds: Mapping[str, Mapping[str, str]]
    categories: tuple[CategorySpec, ...]
    major_classes: tuple[MajorClassSpec, ...] = ()


def parse_taxonomy(document: Mapping[str, Any]) -> Taxonomy:
    """Check and read a taxonomy document; errors name the entry and the field.

    ``limit`` is the handling limit (处置时限); ``stage_limits`` at the top gives the filing,
    dispatch and check limits of every category, and an entry's own ``limits`` (file, dispatch,
    check, case) win over them. ``auto_dispatch: false`` keeps the router from dispatching a
    category by rule, and ``verify: true`` from filing it before an on-site verification.

    >>> t = parse_taxonomy({"department_kinds": {"sanitation": {"zh": "环卫", "en": "Sanitation"}},
    ...     "categories": [{"code": "E0102", "zh": "暴露垃圾", "en": "Exposed rubbish",
    ...                     "department": "sanitation", "limit": "4wh"}]})
    >>> t.categories[0].time_limit
    '4wh'
    >>> doc = {"major_classes": {"event": {"01": {"zh": "市容环境", "en": "City appearance"}}}}
    >>> parse_taxonomy(doc).major_classes[0].name_en
    'City appearance'
    """
    kinds = dict(document.get("department_kinds") or {})
    defaults = dict(STARTER_STAGE_LIMITS)
    for stage, text in dict(document.get("stage_limits") or {}).items():
        if stage not in STAGES:
            raise ValueError(f"stage_limits.{stage}: not a stage ({', '.join(STAGES)})")
        parse_limit(str(text))
        defaults[stage] = str(text)
    categories = []
    seen: set[str] = set()
    for index, entry in enumerate(document.get("categories") or []):
        where = f"categories[{index}]"
        code = str(entry.get("code", ""))
        if not _CODE.match(code):
            raise ValueError(f"{where}.code: {code!r} is not a code like E0102 or C0101")
        if code in seen:
            raise ValueError(f"{where}.code: {code} appears twice")
        seen.add(code)
        kind = str(entry.get("department", ""))
        if kind not in kinds:
            raise ValueError(f"{where}.department: unknown department kind {kind!r}")
        limit = str(entry.get("limit", ""))
        parse_limit(limit)  # raises naming the bad limit
        own = dict(entry.get("limits") or {})
        for stage, text in own.items():
            if stage not in (*STAGES, "case"):
                raise ValueError(
                    f"{where}.limits.{stage}: not a stage (file, dispatch, check, case)"
                )
            try:
                parse_limits(str(text))
            except ValueError as exc:
                raise ValueError(f"{where}.limits.{stage}: {exc}") from exc
        categories.append(
            CategorySpec(
                code=code,
                name_zh=str(entry.get("zh", code)),
                name_en=str(entry.get("en", code)),
                department_kind=kind,
                time_limit=limit,
                needs_verification=bool(entry.get("verify", False)),
                file_limit=str(own.get("file", defaults["file"])),
                dispatch_limit=str(own.get("dispatch", defaults["dispatch"])),
                check_limit=str(own.get("check", defaults["check"])),
                case_limit=str(own.get("case", "")),
                auto_dispatch=bool(entry.get("auto_dispatch", True)),
            )
        )
    return Taxonomy(
        department_kinds=kinds,
        categories=tuple(categories),
        major_classes=_major_classes(document.get("major_classes") or {}),
    )


def _major_classes(section: Mapping[str, Any]) -> tuple[MajorClassSpec, ...]:
    """The ``major_classes`` section: ``{component|event: {"01": {zh: …, en: …}}}``."""
    found = []
    for family, classes in section.items():
        if family not in ("component", "event"):
            raise ValueError(f"major_classes.{family}: family must be component or event")
        for major, names in (classes or {}).items():
            code = f"{int(major):02d}" if str(major).isdigit() else str(major)
            if not re.fullmatch(r"\d{2}", code):
                raise ValueError(f"major_classes.{family}.{major}: not a two-digit class")
            names = names or {}
            found.append(
                MajorClassSpec(family, code, str(names.get("zh", code)), str(names.get("en", code)))
            )
    return tuple(found)


def load_taxonomy(path: Path = STARTER) -> Taxonomy:
    with path.open(encoding="utf-8") as handle:
        return parse_taxonomy(yaml.safe_load(handle) or {})
