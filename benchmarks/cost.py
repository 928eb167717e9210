"""The time factors of imagevariants/edge/cost.py, measured: nanoseconds a pixel for each step and format.

Run: ``python benchmarks/cost.py``. A 12 MP picture of noise over a gradient (the worst case for every encoder)
is decoded, resized and encoded on one thread; each figure is the fastest of three runs (one for the slow
encoders). Compare the printed figures with the factors in cost.py, which are these rounded up; the estimate
multiplies them by cost.SAFETY.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagevariants.edge import cost  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
PIXELS = WIDTH * HEIGHT


def picture(width: int, height: int) -> Image.Image:
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    return Image.merge("RGB", (gradient, noise, Image.blend(gradient, noise, 0.5)))


def fastest(call: Callable[[], object], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decoded(data: bytes) -> None:
    Image.open(io.BytesIO(data)).load()


def main() -> None:
    image = picture(WIDTH, HEIGHT)
    rows: list[tuple[str, float, float]] = []

    def row(name: str, seconds: float, factor: float, pixels: int = PIXELS) -> None:
        rows.append((name, seconds / pixels * 1e9, factor))

    for fmt, options in (("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {}), ("AVIF", {"speed": 9}), ("GIF", {})):
        data = encoded(image.convert("P") if fmt == "GIF" else image, fmt, **options)
        row(f"decode {fmt}", fastest(lambda data=data: decoded(data), 1 if fmt == "PNG" else 3), cost.DECODE_NS[fmt])
    baseline = encoded(image, "JPEG", quality=90)
    progressive = encoded(image, "JPEG", quality=90, progressive=True)
    scans = progressive.count(b"\xff\xda")
    extra = fastest(lambda: decoded(progressive)) - fastest(lambda: decoded(baseline))
    row(f"each progressive scan after the first ({scans} scans)", extra / (scans - 1), cost.SCAN_NS)
    row("resize, Lanczos, to just under the size", fastest(lambda: image.resize((WIDTH - 1, HEIGHT - 1)), 1),
        cost.RESIZE_NS)  # fmt: skip
    for fmt, options in (
        ("jpeg", {"quality": 80, "optimize": True}),
        ("webp", {"quality": 80, "method": 4}),
        ("png", {"compress_level": 6}),
        ("gif", {}),
    ):

        def encode(fmt: str = fmt, options: dict = options) -> bytes:  # GIF: quantized, as the pipeline does
            return encoded(
                image.convert("P", palette=Image.Palette.ADAPTIVE) if fmt == "gif" else image, fmt, **options
            )

        seconds = fastest(encode, 1)
        row(f"encode {fmt}", seconds, cost.ENCODE_NS[fmt])
    small = picture(1600, 1200)
    for speed in sorted(cost.AVIF_ENCODE_NS):
        target = small if speed < 9 else image
        seconds = fastest(lambda t=target, s=speed: encoded(t, "AVIF", quality=80, speed=s, max_threads=1), 1)
        row(f"encode avif, speed {speed}", seconds, cost.AVIF_ENCODE_NS[speed], target.width * target.height)
    print(f"Pillow {Image.__version__}; {WIDTH}x{HEIGHT} noise over a gradient; nanoseconds a pixel\n")
    print("| step | measured | factor in cost.py |\n|---|---|---|")
    for name, measured, factor in rows:
        print(f"| {name} | {measured:.0f} | {factor} |")


if __name__ == "__main__":
    main()
