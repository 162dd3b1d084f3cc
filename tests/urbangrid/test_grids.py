"""Grid versions in the database and their shared index file: built once, mapped by all."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlmodel import Session

from geo.assign import GridIndex
from geo.indexfile import read_key, write_index
from geo.layer import Grid, Layer
from urbangrid.db import make_engine
from urbangrid.grids import (
    ActiveGrid,
    active_version_id,
    ensure_index_file,
    index_key,
    index_path,
    load_grid,
)


def _ensure_in_child(url: str, folder: str, queue: multiprocessing.Queue[tuple[str, bool]]) -> None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            version = active_version_id(session)
            assert version is not None
            path, built = ensure_index_file(session, version, Path(folder))
        queue.put((str(path), built))
    finally:
        engine.dispose()


def test_processes_starting_together_build_the_file_once(sqlite_url: str, tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[str, bool]] = context.Queue()
    children = [
        context.Process(target=_ensure_in_child, args=(sqlite_url, str(tmp_path), queue))
        for _ in range(4)
    ]
    for child in children:
        child.start()
    results = [queue.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert len({path for path, _ in results}) == 1
    assert sum(built for _, built in results) == 1  # one built it, three waited and mapped it
    assert [p.name for p in tmp_path.glob("*.idx")] == [Path(results[0][0]).name]


def test_active_grid_maps_the_file_and_answers_as_a_fresh_build(
    sqlite_url: str, demo_grid: Grid, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as session:
            version, index = ActiveGrid(tmp_path).current(session)
            fresh = GridIndex.build(load_grid(session, version))
            key = index_key(session, version)
    finally:
        engine.dispose()
    assert isinstance(index.raster, np.memmap) and isinstance(index.leaf_codes, np.memmap)
    assert read_key(index_path(tmp_path, key)) == key
    rng = np.random.default_rng(7)
    xmin, ymin, xmax, ymax = demo_grid[1].bounds()
    x, y = rng.uniform(xmin - 0.01, xmax + 0.01, 20_000), rng.uniform(ymin, ymax, 20_000)
    a, b = index.assign(x, y), fresh.assign(x, y)
    assert a.leaf.tolist() == b.leaf.tolist()
    for level in (1, 2, 3, 4):
        assert a.codes[level].tolist() == b.codes[level].tolist()


@pytest.mark.parametrize("damage", ["other key", "garbage", "truncated"])
def test_a_stale_or_damaged_file_is_rebuilt(sqlite_url: str, tmp_path: Path, damage: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as session:
            version = active_version_id(session)
            assert version is not None
            key = index_key(session, version)
            path = index_path(tmp_path, key)
            if damage == "other key":
                tiny = {1: Layer(1, ["310101"], ["黄浦区"], [None], [shapely.box(0, 0, 1, 1)])}
                write_index(GridIndex.build(tiny), path, key=key + " (older)")
            elif damage == "garbage":
                path.write_bytes(b"\0" * 100)
            else:
                ensure_index_file(session, version, tmp_path)
                path.write_bytes(path.read_bytes()[:1000])
            rebuilt, built = ensure_index_file(session, version, tmp_path)
            assert rebuilt == path and built
            assert read_key(path) == key
            again, built = ensure_index_file(session, version, tmp_path)
            assert again == path and not built
    finally:
        engine.dispose()


def test_building_removes_index_files_unused_for_a_week(sqlite_url: str, tmp_path: Path) -> None:
    old, recent = tmp_path / "grid-v1-old.idx", tmp_path / "grid-v2-recent.idx"
    for path in (old, recent):
        path.write_bytes(b"an index of a version long replaced")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as session:
            version = active_version_id(session)
            assert version is not None
            path, built = ensure_index_file(session, version, tmp_path)
    finally:
        engine.dispose()
    assert built and path.exists()
    assert not old.exists() and recent.exists()
