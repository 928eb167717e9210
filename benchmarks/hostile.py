"""Hostile files against the edge: what each cost before the screen, and what refusing it costs now.

    python benchmarks/hostile.py [--only SUBSTRING] [--cap SECONDS]

For each class of file whose cost is not its pixel count (tests/edge/hostile.py builds them), one row:

- the full attack (a file within the byte and pixel limits), its size, and the time ``render()`` takes to refuse
  it (Image.open and the screen), and the screen's own share;
- the same attack cut to right at the limit, which the screen lets through, and the time to render it;
- before: ``render()`` with the screen taken out (as the pipeline was). The attack is measured scaled down (to
  ``before n``) and the full attack's time extrapolated in proportion to its count, since each of these costs
  grows linearly with the count (marked ``>=`` where it grows faster: the measured figure is then a floor).
  Every "before" render runs in its own process, killed after ``--cap`` seconds.

A second table times Image.open alone on files whose cost is paid inside it, before any screen can run.
Output formats: the costliest the file allows (GIF for animations: its encoder is the slowest per frame).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imagevariants.edge import pipeline  # noqa: E402
from imagevariants.edge.errors import EdgeError, SourceTooLarge  # noqa: E402
from imagevariants.edge.limits import Limits  # noqa: E402
from imagevariants.edge.screen import (  # noqa: E402
    MAX_BMP_RLE_PIXELS,
    MAX_TIFF_STRIPS,
    Structure,
    screen_bytes,
    screen_image,
)
from imagevariants.edge.spec import Spec  # noqa: E402
from tests.edge import hostile  # noqa: E402

LIMITS = Limits()
STILL, ANIMATED = Spec(200), Spec(200, format="gif")
BIG = 7000  # a side of the largest square photo within the pixel limit (49 MP)


@dataclass
class Case:
    name: str
    build: Callable[[int], bytes]
    full: int  # the attack's count
    at_limit: int  # the largest count the screen lets through
    before: int  # the count the "before" figure is measured at
    spec: Spec = STILL
    faster_than_linear: bool = False
    limit_build: Callable[[int], bytes] | None = None  # when the file at the limit is not ``build(at_limit)``


def _big_scans(scans: int) -> bytes:
    return hostile.repeated_scans_jpeg(scans, BIG, BIG)


def _big_dc_scans(scans: int) -> bytes:
    return hostile.repeated_scans_jpeg(scans, BIG, BIG, repeat=0, subsampling=0)


def _entry_pages(pages: int) -> bytes:
    return hostile.tiff_entries(60_000, pages)


CASES = [
    Case("JPEG: one progressive scan repeated (49 MP)", _big_scans, 2_000, LIMITS.max_jpeg_scans, 80),
    Case("JPEG: the DC scan repeated (49 MP, 4:4:4; 40 MB)", _big_dc_scans, 140, LIMITS.max_jpeg_scans, 30),
    Case("JPEG: empty COM segments after the first scan", hostile.comment_segments_jpeg, 10_000_000, 4_071, 1_000_000),
    Case("GIF: 1x1 frames", hostile.gif_frames, 20_000, LIMITS.max_frames, 2_000, ANIMATED),
    Case("GIF: one-byte comment sub-blocks", hostile.gif_sub_blocks, 20_000_000, 4_154, 1_000_000, ANIMATED),
    Case("GIF: stray bytes between frames", hostile.gif_stray_bytes, 40_000_000, 4_122, 2_000_000, ANIMATED),
    Case("PNG: empty IDAT chunks", hostile.png_idat_chunks, 3_300_000, 65_534, 300_000),
    Case(
        "PNG: iTXt chunks after the image data",
        lambda n: hostile.png_text_chunks(n, b"iTXt"),
        2_100_000,
        65_533,
        100_000,
    ),
    Case("APNG: 1x1 frames", hostile.apng_frames, 20_000, LIMITS.max_frames, 2_000, ANIMATED),
    Case("WebP: 1x1 frames (ANMF)", hostile.webp_frames, 20_000, LIMITS.max_frames, 2_000, ANIMATED),
    Case("AVIF: 8x8 frames", hostile.avif_frames, 2_000, LIMITS.max_frames, 2_000, ANIMATED),
    Case("TIFF: 1x1 pages", hostile.tiff_pages, 20_000, LIMITS.max_frames, 2_000, ANIMATED),
    Case("TIFF: pages of 60,000 IFD entries", _entry_pages, 50, 32_759, 2, ANIMATED, limit_build=hostile.tiff_entries),
    Case("TIFF: Exif IFD entries", hostile.tiff_exif_entries, 64_000, 32_758, 64_000),
    Case(
        "TIFF: one-row strips of a 1 x n second page (uncompressed)",
        hostile.tiff_strips_on_second_page,
        1_000_000,
        MAX_TIFF_STRIPS,
        100_000,
        Spec(200, 200, format="gif"),  # a 200 px box: the page is 1 pixel wide
    ),
    Case("TIFF: strips wrapping round a 1 MP row", lambda n: hostile.tiff_strips(n, 1_000_000, 2), 10_000, 2, 200),
    Case("BMP: RLE8 no-op escapes (1x1)", hostile.bmp_rle_escapes, 20_000_000, 2_048, 1_000_000),
    Case(
        "BMP: RLE8 rows padded a pixel at a time",
        lambda n: hostile.bmp_rle_padded_rows(n, 1),
        50_000_000,
        MAX_BMP_RLE_PIXELS,
        5_000_000,
    ),
    Case(
        "ICC: D2B0 elements (in a JPEG)",
        lambda n: hostile.jpeg_with_icc(hostile.icc_elements(n)),
        6_000,
        32,
        2_000,
        faster_than_linear=True,
    ),
    Case(
        "ICC: D2B0 curve segments (in a JPEG)",
        lambda n: hostile.jpeg_with_icc(hostile.icc_segments(n)),
        196_605,
        1_023,
        30_000,
    ),
    Case(
        "ICC: lut16 grid points a side (in a JPEG)",
        lambda n: hostile.jpeg_with_icc(hostile.icc_large_lut(n)),
        140,
        110,
        140,
    ),
]

OPEN_ONLY = [
    (
        "JPEG: COM segments before the first scan",
        lambda n: hostile.comment_segments_jpeg(n, False),
        10_000_000,
        1_000_000,
    ),
    (
        "PNG: tEXt chunks before the image data",
        lambda n: hostile.png_text_chunks(n, before_image_data=True),
        2_800_000,
        300_000,
    ),
    (
        "GIF: one-byte sub-blocks before the first frame",
        lambda n: hostile.gif_sub_blocks(n, True),
        20_000_000,
        1_000_000,
    ),
    ("TIFF: one-row strips of the first page", lambda n: hostile.tiff_strips(n, 1, n), 10_000_000, 100_000),
]


def _clock(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    try:
        result: object = call()
    except EdgeError as exc:
        result = exc
    return time.perf_counter() - started, result


def _render(data: bytes, spec: Spec) -> tuple[float, object]:
    pipeline.decode_cache.clear()
    pipeline._transform.cache_clear()
    return _clock(lambda: pipeline.render(data, spec, LIMITS))


def _unscreened(data: bytes, spec: Spec, out: multiprocessing.Queue) -> None:
    pipeline.screen_bytes = lambda data, limits: Structure()  # the pipeline as it was
    pipeline.screen_image = lambda image, data, limits: None
    seconds, result = _render(data, spec)
    out.put((seconds, type(result).__name__))


def _before(data: bytes, spec: Spec, cap: float) -> tuple[float | None, str]:
    """Render without the screen in a child process; None if it ran out of the cap."""
    out: multiprocessing.Queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=_unscreened, args=(data, spec, out))
    child.start()
    child.join(cap)
    if child.is_alive():
        child.kill()
        child.join()
        return None, "killed"
    return out.get(timeout=5)


def _seconds(value: float | None, floor: bool = False) -> str:
    if value is None:
        return "-"
    return f"{'>=' if floor else ''}{value:.3f}" if value < 10 else f"{'>=' if floor else ''}{value:.1f}"


def run_case(case: Case, cap: float) -> list[str]:
    full = case.build(case.full)
    refused_in, refusal = _render(full, case.spec)
    assert isinstance(refusal, SourceTooLarge), f"{case.name}: not refused ({refusal!r})"
    image = Image.open(io.BytesIO(full))
    screen_in, _ = _clock(lambda: _screened(full, image))
    at_limit, result = "-", ""
    if case.at_limit:
        limit_seconds, result = _render((case.limit_build or case.build)(case.at_limit), case.spec)
        assert not isinstance(result, EdgeError), f"{case.name}: at the limit, {result!r}"
        at_limit = f"{case.at_limit:,}: {_seconds(limit_seconds)}"
    scaled = full if case.before == case.full else case.build(case.before)
    before_seconds, outcome = _before(scaled, case.spec, cap)
    if before_seconds is None:
        before = f">{cap:.0f} (killed)"
        extrapolated = "-"
    else:
        before = _seconds(before_seconds)
        factor = case.full / case.before
        extrapolated = _seconds(before_seconds * factor, floor=case.faster_than_linear and factor > 1)
        if outcome != "Rendered":
            before += f" ({outcome})"
    return [case.name, f"{case.full:,}", f"{len(full):,}", _seconds(refused_in), _seconds(screen_in), at_limit,
            f"{case.before:,}: {before}", extrapolated]  # fmt: skip


def _screened(data: bytes, image: Image.Image) -> None:
    try:
        screen_bytes(data, LIMITS)
        screen_image(image, data, LIMITS)
    except SourceTooLarge:
        pass


def run_open_only(name: str, build: Callable[[int], bytes], full: int, scaled: int) -> list[str]:
    data = build(scaled)
    seconds, _ = _clock(lambda: Image.open(io.BytesIO(data)))
    return [name, f"{scaled:,}", f"{len(data):,}", _seconds(seconds), f"{full:,}", _seconds(seconds * full / scaled)]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds a 'before' render may run")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Pillow warns about the malformed structures these files are made of
    print(f"Pillow {PIL.__version__}, Python {platform.python_version()}, {platform.machine()}; limits {LIMITS}\n")
    rows = []
    for case in CASES:
        if args.only.lower() in case.name.lower():
            rows.append(run_case(case, args.cap))
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print(table(["file", "attack n", "bytes", "refused in (s)", "screen (s)", "at the limit: n: render (s)",
                 "before: n: render (s)", "before, full attack (s, extrapolated)"], rows))  # fmt: skip
    opened = [run_open_only(*case) for case in OPEN_ONLY if args.only.lower() in case[0].lower()]
    if opened:
        print("\nPaid inside Image.open when it runs (the walk now runs first and refuses these):\n")
        print(table(["file", "n", "bytes", "Image.open (s)", "full attack n", "full attack (s, extrapolated)"],
                    opened))  # fmt: skip


if __name__ == "__main__":
    main()
