"""Where photos are kept: a directory on one machine, or an S3-compatible bucket for many.

Keys are content hashes under a few prefixes (``incoming/`` raw uploads, ``photos/`` and
``thumbs/`` the stored copies), so writing the same photo twice writes the same object and a
task that runs twice changes nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

_KEY = re.compile(r"^[a-z]+(/[0-9a-f]{2})?/[0-9a-f]{64}(\.[a-z]+)?$")


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; :class:`KeyError` when there is none."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it is already gone."""
        ...

    def written_before(self, prefix: str, moment: datetime) -> Iterator[str]:
        """The keys under ``prefix`` whose object was last written before ``moment``."""
        ...


def object_key(prefix: str, digest: str, suffix: str = "") -> str:
    """The key of a content-addressed object, fanned out by the hash's first two digits.

    >>> object_key("photos", "ab" + "0" * 62, ".jpg")
    'photos/ab/ab00000000000000000000000000000000000000000000000000000000000000.jpg'
    """
    key = f"{prefix}/{digest[:2]}/{digest}{suffix}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    """Refuse any key that is not one of ours (no ``..``, no absolute paths).

    >>> check_key("../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: not a storage key: '../../etc/passwd'
    """
    if not _KEY.match(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class DirectoryStorage:
    """Objects as files under one directory; writes are atomic (write, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def written_before(self, prefix: str, moment: datetime) -> Iterator[str]:
        """Files under ``prefix`` last modified before ``moment`` (unfinished writes, named
        ``.upload-*``, are not objects)."""
        limit = moment.timestamp()
        for path in sorted((self.root / prefix).rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if _KEY.match(key) and path.is_file() and path.stat().st_mtime < limit:
                yield key


class S3Storage:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=Config(
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                    s3={"addressing_style": "path"} if endpoint_url else None,
                ),
            )
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, method: str, key: str, **arguments: Any) -> Any:
        """One S3 call; a bucket out of reach surfaces as OSError, like a full disk would."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(
                Bucket=self.bucket, Key=self._name(key), **arguments
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise KeyError(key) from exc
            raise
        except BotoCoreError as exc:
            raise OSError(f"S3 bucket {self.bucket} unreachable: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call("put_object", key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        body: bytes = self._call("get_object", key)["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", key)
        except KeyError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call("delete_object", key)

    def written_before(self, prefix: str, moment: datetime) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError

        start = f"{self.prefix}/{prefix}/" if self.prefix else f"{prefix}/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])
                    key = name[len(self.prefix) + 1 :] if self.prefix else name
                    if _KEY.match(key) and item["LastModified"] < moment:
                        yield key
        except BotoCoreError as exc:
            raise OSError(f"S3 bucket {self.bucket} unreachable: {exc}") from exc


def open_storage(url: str, *, var_dir: Path) -> Storage:
    """The storage a URL names: empty (``var_dir/media``), ``file:///dir`` or ``s3://bucket/…``.

    >>> from pathlib import Path
    >>> open_storage("", var_dir=Path("/srv/var")).root
    PosixPath('/srv/var/media')
    >>> open_storage("ftp://host/x", var_dir=Path("/srv/var"))
    Traceback (most recent call last):
    ...
    ValueError: media storage 'ftp://host/x' is not empty, file:///… or s3://bucket/…
    """
    if not url:
        return DirectoryStorage(var_dir / "media")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return DirectoryStorage(Path(parts.path))
    if parts.scheme == "s3" and parts.netloc:
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        return S3Storage(
            parts.netloc,
            parts.path,
            endpoint_url=query.get("endpoint"),
            region=query.get("region"),
        )
    raise ValueError(f"media storage {url!r} is not empty, file:///… or s3://bucket/…")
