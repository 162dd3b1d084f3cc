"""The media step: raw upload in, stripped copy and thumbnail out, raw upload deleted; in a
directory or in an S3-compatible bucket."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session

from geo.layer import Grid
from tests.intake.helpers import cell_points, jpeg
from tests.reports import report_at
from urbangrid.core.columns import utcnow
from urbangrid.core.settings import Settings
from urbangrid.core.storage import DirectoryStorage, S3Storage, Storage, object_key, open_storage
from urbangrid.core.tables import Photo
from workers.housekeeping import sweep_raw
from workers.media import claim_unprocessed, process_photo

SETTINGS = Settings(var_dir=Path("/nonexistent"))


def _case(session: Session, grid: Grid, seed: int) -> int:
    lon, lat = cell_points(grid, 1, seed=seed)[0]
    token = hashlib.sha256(str(seed).encode()).hexdigest()[:40]
    case = report_at(lon, lat, token=token, category="E0102")
    session.add(case)
    session.commit()
    assert case.id is not None
    return case.id


def _upload(session: Session, storage: Storage, case_id: int, data: bytes) -> int:
    digest = hashlib.sha256(data).hexdigest()
    storage.put(object_key("incoming", digest), data, "image/jpeg")
    photo = Photo(
        case_id=case_id,
        raw_key=object_key("incoming", digest),
        raw_sha256=digest,
        raw_format="jpeg",
        raw_bytes=len(data),
    )
    session.add(photo)
    session.commit()
    assert photo.id is not None
    return photo.id


def test_processing_is_idempotent_and_keeps_a_shared_raw_until_both_are_done(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    case_id = _case(session, demo_grid, seed=601)
    raw = jpeg((2500, 2500), gps=(31.2, 121.4))
    first = _upload(session, storage, case_id, raw)
    second = _upload(session, storage, case_id, raw)  # the same photo, sent twice
    raw_key = object_key("incoming", hashlib.sha256(raw).hexdigest())

    assert process_photo(first, session=session, storage=storage, settings=SETTINGS) == "ready"
    assert storage.exists(raw_key)  # the second row still needs it
    assert process_photo(second, session=session, storage=storage, settings=SETTINGS) == "ready"
    assert not storage.exists(raw_key)
    assert process_photo(first, session=session, storage=storage, settings=SETTINGS) == "ready"

    rows = [session.get(Photo, first), session.get(Photo, second)]
    assert rows[0] is not None and rows[1] is not None
    assert rows[0].digest == rows[1].digest and (rows[0].width, rows[0].height) == (2048, 2048)
    stored = storage.get(object_key("photos", rows[0].digest or "", ".jpg"))
    assert hashlib.sha256(stored).hexdigest() == rows[0].digest
    assert len(Image.open(io.BytesIO(stored)).getexif()) == 0
    assert all(r.raw_key is None for r in rows)


def test_undecodable_or_lost_raw_is_rejected(
    session: Session, demo_grid: Grid, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    case_id = _case(session, demo_grid, seed=602)
    # The intake refuses a photo cut short now; one stored before that, or damaged in a way
    # its cheap check cannot see, is still rejected here, and an operator is told.
    truncated = jpeg((800, 600))[:600]
    broken = _upload(session, storage, case_id, truncated)
    assert process_photo(broken, session=session, storage=storage, settings=SETTINGS) == "rejected"
    assert f"photo {broken} of case {case_id} rejected" in caplog.text
    lost = _upload(session, storage, case_id, jpeg((10, 10)))
    row = session.get(Photo, lost)
    assert row is not None and row.raw_key is not None
    storage.delete(row.raw_key)
    assert process_photo(lost, session=session, storage=storage, settings=SETTINGS) == "rejected"
    session.refresh(row)
    assert "missing" in row.error
    assert process_photo(987654, session=session, storage=storage, settings=SETTINGS) == "missing"


def test_relay_claims_photos_whose_message_was_lost(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    photo_id = _upload(session, storage, _case(session, demo_grid, seed=603), jpeg())
    now = utcnow()
    assert photo_id not in claim_unprocessed(session, now=now, grace_s=30, batch=1000)
    later = now + timedelta(seconds=31)
    assert photo_id in claim_unprocessed(session, now=later, grace_s=30, batch=1000)
    # Claimed: not again until the grace has passed once more.
    assert photo_id not in claim_unprocessed(session, now=later, grace_s=30, batch=1000)
    process_photo(photo_id, session=session, storage=storage, settings=SETTINGS)
    much_later = later + timedelta(minutes=5)
    assert photo_id not in claim_unprocessed(session, now=much_later, grace_s=30, batch=1000)


def test_storage_urls() -> None:
    assert isinstance(open_storage("", var_dir=Path("/v")), DirectoryStorage)
    assert open_storage("file:///srv/media", var_dir=Path("/v")).root == Path("/srv/media")  # type: ignore[attr-defined]
    s3 = open_storage(
        "s3://city-photos/urbangrid?endpoint=http://127.0.0.1:9&region=cn-east-1",
        var_dir=Path("/v"),
    )
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("city-photos", "urbangrid")
    with pytest.raises(ValueError, match="not a storage key"):
        DirectoryStorage(Path("/tmp")).get("../../etc/passwd")


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Storage]:
    """An S3 bucket served over HTTP by moto's server: boto3 speaks the real S3 protocol to
    it. The one named fake in these tests, for the one service with no local original here."""
    moto_server = pytest.importorskip("moto.server")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    storage = open_storage(
        f"s3://urbangrid-media/city-a?endpoint=http://{host}:{port}&region=us-east-1",
        var_dir=Path("/unused"),
    )
    assert isinstance(storage, S3Storage)
    storage.client.create_bucket(Bucket="urbangrid-media")
    yield storage
    server.stop()


def test_photos_in_an_s3_bucket(bucket: S3Storage, session: Session, demo_grid: Grid) -> None:
    photo_id = _upload(session, bucket, _case(session, demo_grid, seed=604), jpeg((900, 700)))
    assert process_photo(photo_id, session=session, storage=bucket, settings=SETTINGS) == "ready"
    row = session.get(Photo, photo_id)
    assert row is not None and row.digest is not None
    names = [o["Key"] for o in bucket.client.list_objects_v2(Bucket="urbangrid-media")["Contents"]]
    assert sorted(k.split("/")[1] for k in names) == ["photos", "thumbs"]  # raw deleted
    assert all(k.startswith("city-a/") for k in names)
    stored = bucket.get(object_key("photos", row.digest, ".jpg"))
    assert Image.open(io.BytesIO(stored)).size == (900, 700)
    assert not bucket.exists(object_key("incoming", row.raw_sha256))
    with pytest.raises(KeyError):
        bucket.get(object_key("photos", "0" * 64, ".jpg"))
    bucket.delete(object_key("photos", "0" * 64, ".jpg"))  # deleting nothing is fine


def test_unreachable_bucket_is_an_oserror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    storage = S3Storage("b", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    with pytest.raises(OSError, match="unreachable: Could not connect"):
        storage.put(object_key("photos", "a" * 64, ".jpg"), b"x", "image/jpeg")


def _sweep_scene(session: Session, storage: Storage, case_id: int) -> tuple[str, str, str]:
    """Three raw uploads: one a pending photo still needs, one no photo needs (a refused
    request's), and one just written (a request on its way); the first two an hour and more
    old. Returns their keys."""
    needed = _upload(session, storage, case_id, jpeg((640, 480), colour=(1, 2, 3)))
    row = session.get(Photo, needed)
    assert row is not None and row.raw_key is not None
    left, fresh = jpeg((641, 480), colour=(4, 5, 6)), jpeg((642, 480), colour=(7, 8, 9))
    keys = []
    for data in (left, fresh):
        keys.append(object_key("incoming", hashlib.sha256(data).hexdigest()))
        storage.put(keys[-1], data, "image/jpeg")
    return row.raw_key, keys[0], keys[1]


def test_raw_uploads_no_photo_needs_are_swept_after_an_hour(
    session: Session, demo_grid: Grid, tmp_path: Path
) -> None:
    storage = DirectoryStorage(tmp_path / "media")
    needed, left, fresh = _sweep_scene(session, storage, _case(session, demo_grid, seed=605))
    stored = object_key("photos", "c" * 64, ".jpg")
    storage.put(stored, b"a stored copy", "image/jpeg")
    two_hours_ago = (utcnow() - timedelta(hours=2)).timestamp()
    for key in (needed, left, stored):
        os.utime(storage.root / key, (two_hours_ago, two_hours_ago))
    (storage.root / "incoming" / ".upload-unfinished").write_bytes(b"x")

    with session.connection() as conn:
        assert sweep_raw(conn, storage, now=utcnow()) == 1
    assert not storage.exists(left)
    assert storage.exists(needed) and storage.exists(fresh) and storage.exists(stored)
    # The raw upload of a photo being taken in is written again, not skipped: it is fresh.
    assert list(storage.written_before("incoming", utcnow() - timedelta(hours=1))) == [needed]


def test_raw_uploads_in_an_s3_bucket_are_listed_by_age(
    bucket: S3Storage, session: Session, demo_grid: Grid
) -> None:
    needed, left, fresh = _sweep_scene(session, bucket, _case(session, demo_grid, seed=606))
    assert sorted(bucket.written_before("incoming", utcnow() + timedelta(minutes=1))) == sorted(
        [needed, left, fresh]
    )
    assert list(bucket.written_before("incoming", utcnow() - timedelta(hours=1))) == []
    # Two hours on, neither file without a photo is on its way any more: both go.
    with session.connection() as conn:
        assert sweep_raw(conn, bucket, now=utcnow() + timedelta(hours=2)) == 2
    assert bucket.exists(needed) and not bucket.exists(left) and not bucket.exists(fresh)
