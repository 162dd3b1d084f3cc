"""``urbangrid photos reblur`` and ``urbangrid bench photos``: the face and plate detector run
again over stored photos, and measured on the evaluation set."""

from __future__ import annotations

import io
import json
import statistics
import time
from pathlib import Path

import click

from urbangrid.core.settings import get_settings


@click.group()
def photos() -> None:
    """Residents' photos: the public copies, with faces and licence plates blurred."""


@photos.command("reblur")
@click.option(
    "--all", "every", is_flag=True, help="Every ready photo, not only those another detector saw."
)
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10_000))
def reblur_command(every: bool, batch: int) -> None:
    """Run this detector over the stored copies of photos another version (or none) saw, and
    replace their public copies; each photo records the detector's version and when."""
    from sqlmodel import Session

    from urbangrid.cases.blurring import find, reblur
    from urbangrid.cases.detect import VERSION
    from urbangrid.core.db import get_engine
    from urbangrid.core.storage import open_storage

    settings = get_settings()
    if not settings.photo_blur:
        raise click.ClickException(
            "blurring is off (URBANGRID_PHOTO_BLUR=false): this city publishes no photos"
        )
    storage = open_storage(settings.media_storage, var_dir=settings.var_dir)
    with Session(get_engine(settings), expire_on_commit=False) as session:
        seen, changed = reblur(
            session,
            storage,
            version=VERSION,
            run=find,
            min_score=settings.photo_blur_min_score,
            thumb_side=settings.photo_thumb_side,
            every=every,
            batch=batch,
        )
    click.echo(
        f"photos: {seen:,} re-run with detector {VERSION}; {changed:,} public copies changed"
    )


@click.command("photos")
@click.option("--count", default=40, show_default=True, type=click.IntRange(1, 500))
@click.option("--seed", default=16, show_default=True)
@click.option(
    "--save",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each blurred public copy here as PNG, labelled boxes in green, to look at.",
)
def bench_photos(count: int, seed: int, save: Path | None) -> None:
    """Per-photo time of both detectors at 2048 px on one core (beside a decode and re-encode
    of the same photo, measured in the same run), recall of faces and plates on the evaluation
    set, and the share of blurred area that holds no face or plate.

    Times are wall-clock and, beside them, the CPU time the process used (``*_cpu``): both
    detectors run on one thread, so on a machine shared with other work the CPU time is the
    time the photo would take on a core of its own, while the wall-clock time includes the
    waits for a core."""
    import cv2
    from PIL import Image, ImageDraw

    from urbangrid.cases import detect, photoset
    from urbangrid.cases.blurring import blurs
    from urbangrid.cases.photos import normalise, render_public

    cv2.setNumThreads(1)  # one core, as the budget is stated
    settings = get_settings()
    min_score = settings.photo_blur_min_score
    total = photoset.Score(0, 0, 0, 0, 0, 0)
    faces_ms: list[float] = []
    plates_ms: list[float] = []
    baseline_ms: list[float] = []
    both_cpu_ms: list[float] = []
    baseline_cpu_ms: list[float] = []
    blur_ms: list[float] = []
    detect.detect_faces(photoset._street(0))  # load the network before timing
    if save:
        save.mkdir(parents=True, exist_ok=True)
    for sample in photoset.build(seed=seed, count=count):
        out = io.BytesIO()
        Image.fromarray(sample.rgb).save(out, "JPEG", quality=90)
        raw = out.getvalue()
        started, cpu = time.perf_counter(), time.process_time()
        stored = normalise(
            raw, max_side=2048, thumb_side=settings.photo_thumb_side, max_pixels=60_000_000
        ).image
        baseline_ms.append((time.perf_counter() - started) * 1000)
        baseline_cpu_ms.append((time.process_time() - cpu) * 1000)
        started, cpu = time.perf_counter(), time.process_time()
        faces = detect.detect_faces(sample.rgb, min_score=min_score)
        faces_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        plates = detect.detect_plates(sample.rgb, min_score=min_score)
        plates_ms.append((time.perf_counter() - started) * 1000)
        both_cpu_ms.append((time.process_time() - cpu) * 1000)
        chosen = blurs(faces + plates, width=photoset.WIDTH, height=photoset.HEIGHT, min_score=0)
        total = total + photoset.score(sample, [box for _, box in chosen])
        started = time.perf_counter()
        made = render_public(stored, [], thumb_side=settings.photo_thumb_side, blur=chosen)
        blur_ms.append((time.perf_counter() - started) * 1000)
        if save:
            with Image.open(io.BytesIO(made.image)) as shown:
                picture = shown.convert("RGB")
            draw = ImageDraw.Draw(picture)
            for box in sample.faces + sample.plates:
                draw.rectangle(box, outline=(0, 255, 0), width=2)
            picture.save(save / f"{sample.name}.png")
    both = [f + p for f, p in zip(faces_ms, plates_ms, strict=True)]
    baseline = statistics.median(baseline_ms)

    def figure(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(values), 1),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        }

    click.echo(
        json.dumps(
            {
                "detector": detect.VERSION,
                "photos": count,
                "min_score": min_score,
                "faces": total.faces,
                "face_recall": round(total.face_recall, 3),
                "plates": total.plates,
                "plate_recall": round(total.plate_recall, 3),
                "blurred_outside_labels": round(total.outside_share, 3),
                "detect_both": figure(both),
                "detect_both_cpu": figure(both_cpu_ms),
                "detect_faces": figure(faces_ms),
                "detect_plates": figure(plates_ms),
                "render_public_copy": figure(blur_ms),
                "baseline_decode_encode": figure(baseline_ms),
                "baseline_decode_encode_cpu": figure(baseline_cpu_ms),
                "both_over_baseline": round(statistics.median(both) / baseline, 2),
            }
        )
    )
