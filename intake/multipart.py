"""A streaming multipart/form-data reader with a size limit per field.

Starlette's form parser spools any file to disk and reports an oversized text part without
saying which one; residents' uploads need a refusal that names the field (``description``,
``photos``) as soon as the limit is crossed, before the rest of the body is read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from intake.errors import FieldError
from urbangrid.cases.photos import sniff


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytearray = field(default_factory=bytearray)
    # Sent as a file: with a filename (even an empty one, or only RFC 5987's filename*), or
    # typed as an image. Text fields come with neither. (A part typed only as bytes is judged
    # by its first bytes: some clients type their text fields so.)
    file_like: bool = False
    # Read under a rule for photos.
    for_files: bool = False

    @property
    def left_empty(self) -> bool:
        """A file input the resident left empty (no name, no bytes): nothing was meant to go."""
        return (self.file_like or self.for_files) and not self.filename and not self.data

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class PartRule:
    max_bytes: int
    max_count: int = 1
    is_file: bool = False


# A filename in a part's Content-Disposition, plain or RFC 5987's filename*= (which the parser
# of options drops).
_FILENAME = re.compile(rb";\s*filename\*?\s*=", re.IGNORECASE)


class _Reader:
    def __init__(self, rules: Mapping[str, PartRule], other: PartRule | None = None) -> None:
        self.rules = rules
        self.other = other
        self.parts: list[Part] = []
        self.counts: dict[str, int] = {}
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._current: Part | None = None
        self._rule: PartRule | None = None

    def on_part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise FieldError("body", "a multipart part has no name", kind="multipart")
        name = options[b"name"].decode("utf-8", errors="replace")
        rule = self.rules.get(name, self.other)
        if rule is None:
            raise FieldError(name, "is not a field of this form", kind="extra_forbidden")
        count = self.counts[name] = self.counts.get(name, 0) + 1
        if count > rule.max_count:
            raise FieldError(
                name, f"at most {rule.max_count} allowed, got more", kind="too_many_parts"
            )
        filename = options.get(b"filename")
        content_type = self._headers.get(b"content-type", b"").decode("latin-1")
        kind = content_type.split(";")[0].strip().lower()
        self._rule = rule
        self._current = Part(
            name=name,
            filename=filename.decode("utf-8", errors="replace") if filename is not None else None,
            content_type=content_type,
            file_like=filename is not None
            or _FILENAME.search(disposition) is not None
            or kind.startswith("image/"),
            for_files=rule.is_file,
        )
        self.parts.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        assert self._current is not None and self._rule is not None
        if (
            not self._rule.is_file
            and end > start
            and (
                self._current.file_like
                or (not self._current.data and sniff(data[start:end]) is not None)
            )
        ):
            # A photo under a name of the client's own would otherwise be read as text and
            # dropped, and the report filed without it while the client believed it sent. Said
            # at its first byte: a file input left empty sends none and is let pass.
            takes = [name for name, rule in self.rules.items() if rule.is_file]
            where = f"send photos as {_either(takes)}" if takes else "this form takes no files"
            raise FieldError(
                self._current.name,
                f"a file, where text was expected; {where}",
                kind="unexpected_file",
            )
        if len(self._current.data) + (end - start) > self._rule.max_bytes:
            label = self._current.name
            if self._rule.max_count > 1:
                label = f"{label}[{self.counts[label] - 1}]"
            raise FieldError(
                self._current.name,
                f"{label} is larger than {self._rule.max_bytes:,} bytes",
                kind="too_large",
                status=413,
            )
        self._current.data += data[start:end]


def _either(names: list[str]) -> str:
    """
    >>> _either(["media", "photo1", "photo2"])
    'media, photo1 or photo2'
    >>> _either(["photos"])
    'photos'
    """
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


async def read_multipart(
    content_type: str,
    stream: AsyncIterator[bytes],
    rules: Mapping[str, PartRule],
    *,
    other: PartRule | None = None,
) -> dict[str, list[Part]]:
    """The parts of a multipart body by field name; :class:`FieldError` names the first bad one.

    Fields without a rule are refused, unless ``other`` is the rule for any field (a client
    that sends fields of its own, as FixMyStreet sends ``attribute[...]``)."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise FieldError("body", "multipart body without a boundary", kind="multipart")
    reader = _Reader(rules, other)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": reader.on_part_begin,
            "on_part_data": reader.on_part_data,
            "on_header_field": reader.on_header_field,
            "on_header_value": reader.on_header_value,
            "on_header_end": reader.on_header_end,
            "on_headers_finished": reader.on_headers_finished,
        },
    )
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except FieldError:
        raise
    except Exception as exc:  # python-multipart's parse errors: the body is not valid multipart
        raise FieldError("body", f"malformed multipart body: {exc}", kind="multipart") from exc
    found: dict[str, list[Part]] = {}
    for part in reader.parts:
        if not part.left_empty:
            found.setdefault(part.name, []).append(part)
    return found
