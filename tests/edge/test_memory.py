"""The memory estimate against real renders (the peak RSS of a fresh process), and the worst case of a preset."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imagevariants.edge import memory, pipeline
from imagevariants.edge.errors import SourceTooLarge
from imagevariants.edge.limits import Limits
from imagevariants.edge.screen import screen_bytes
from imagevariants.edge.spec import Spec
from tests import images
from tests.images import encode

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20

#: Renders one source in a fresh process and prints its peak RSS beyond the process before the render (the
#: interpreter, the imports and the source's bytes): the peak is reset after loading them where Linux allows it.
CHILD = """
import ctypes, gc, json, sys
from pathlib import Path
from imagevariants.edge import pipeline
from imagevariants.edge.limits import Limits
from imagevariants.edge.spec import Spec

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(key)

data = Path(sys.argv[1]).read_bytes()
spec = Spec(**json.loads(sys.argv[2]))
gc.collect()
try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
try:
    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS")
except OSError:
    before = status("VmHWM")
made = pipeline.render(data, spec, Limits())
print(json.dumps({"peak": status("VmHWM") - before, "width": made.width, "height": made.height}))
"""


def noisy(width: int, height: int, mode: str = "RGB") -> Image.Image:
    bands = len(mode)
    return Image.frombytes(mode, (width, height), os.urandom(width * height * bands))


def noisy_animation(frames: int, size: tuple[int, int]) -> bytes:
    """A GIF whose frames are each their own noise (256 random colours), so none is merged into another."""
    images = []
    for _ in range(frames):
        frame = Image.frombytes("P", size, os.urandom(size[0] * size[1]))
        frame.putpalette(os.urandom(768))
        images.append(frame)
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)


def estimate(data: bytes, spec: Spec) -> int:
    """The estimate as render() computes it, from what the header says after shrink-on-load."""
    image = Image.open(io.BytesIO(data))
    frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated", False) else 1
    out = pipeline.output_size(image.width, image.height, spec)
    source_format, source_mode, source_pixels = image.format, image.mode, image.width * image.height
    if frames == 1:
        image = pipeline._shrink_on_load(image, out, image.size)
    return memory.estimate_peak_bytes(
        source_format=source_format,
        source_mode=source_mode,
        source_pixels=source_pixels,
        decoded_pixels=image.width * image.height,
        output_pixels=out[0] * out[1],
        fmt=spec.format,
        frames=frames,
        source_bytes=len(data),
        multiscan=bool(image.info.get("progressive")),
        icc_profile=bool(image.info.get("icc_profile")),
        transposed=pipeline._orientation(image, screen_bytes(data, Limits())) in pipeline._UPRIGHT,
    )


def measured_peak(tmp_path: Path, data: bytes, spec: Spec) -> int:
    source = tmp_path / "source"
    source.write_bytes(data)
    fields = {"width": spec.width, "height": spec.height, "fit": spec.fit, "format": spec.format}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), json.dumps(fields)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    return json.loads(done.stdout)["peak"]


PHOTO = (2121, 1414)  # 3 MP


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
@pytest.mark.parametrize(
    "name, spec",
    [
        ("jpeg", Spec(8192, format="jpeg")),
        ("webp", Spec(8192, format="webp")),
        ("avif", Spec(8192, format="avif")),
        ("progressive-thumbnail", Spec(400, format="webp")),
        ("animation", Spec(8192, format="webp")),
    ],
)
def test_estimate_bounds_a_real_render_without_refusing_it(tmp_path, name, spec):
    """Full-size renders of a noisy 3 MP photo (noise is every encoder's worst case), a thumbnail of a progressive
    photo (whose coefficients libjpeg holds whole), and an animation kept whole: the measured peak is never above
    the estimate, and the estimate is never so far above it that it would refuse work that fits."""
    data = noisy_animation(8, (640, 480)) if name == "animation" else encode(noisy(*PHOTO), "JPEG", quality=90)
    if name == "progressive-thumbnail":  # 4:4:4, whose coefficients the estimate counts exactly; smooth, as
        # Pillow's progressive encoder cannot write noise at 4:4:4 (libjpeg holds the coefficients whatever they are)
        photo = Image.merge("RGB", [Image.linear_gradient("L").resize(PHOTO).rotate(angle) for angle in (0, 90, 180)])
        data = encode(photo, "JPEG", quality=90, progressive=True, subsampling=0)
    peak, estimated = measured_peak(tmp_path, data, spec), estimate(data, spec)
    assert peak > 2 * MIB, "the child measured nothing: the render must show in its peak RSS"
    assert peak <= estimated, f"{name}: measured {peak / MIB:.1f} MiB over the estimate {estimated / MIB:.1f} MiB"
    assert estimated <= 3 * peak, f"{name}: estimate {estimated / MIB:.1f} MiB, measured {peak / MIB:.1f} MiB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_runtime_baseline_covers_the_handler_and_an_s3_client():
    code = (
        "import imagevariants.edge.handler\n"
        "from imagevariants.edge.store import s3_client\n"
        "s3_client('us-east-1')\n"
        "from pathlib import Path\n"
        "print(next(int(l.split()[1]) * 1024 for l in Path('/proc/self/status').read_text().splitlines()"
        " if l.startswith('VmHWM:')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    peak = int(done.stdout)
    assert memory.RUNTIME_BASELINE_BYTES * 0.75 <= peak <= memory.RUNTIME_BASELINE_BYTES


def test_a_multiscan_jpeg_costs_its_coefficients_whatever_the_scale():
    photo = dict(source_format="JPEG", source_mode="RGB", source_pixels=24_000_000, output_pixels=76_800, fmt="jpeg")
    baseline = memory.estimate_peak_bytes(decoded_pixels=375_000, **photo)
    progressive = memory.estimate_peak_bytes(decoded_pixels=375_000, multiscan=True, **photo)
    assert progressive - baseline >= 24_000_000 * 3 * 2  # 2 bytes per coefficient, three components


def test_a_webp_source_holds_its_decoder():
    common = dict(source_mode="RGB", source_pixels=6_000_000, decoded_pixels=6_000_000, output_pixels=6_000_000)
    webp = memory.estimate_peak_bytes(source_format="WEBP", fmt="png", **common)
    png = memory.estimate_peak_bytes(source_format="PNG", fmt="png", **common)
    assert webp - png >= 6_000_000 * 8


def test_full_size_avif_preset_at_default_limits():
    """The largest AVIF variant of a source at the default 50 MP is refused by a 512 MB function and by a 1536 MB
    one alike: its worst source, a 50 MP WebP with alpha, holds 12.6 bytes a pixel of decoder beside the output
    and libaom's 31 (measured: a 48 MP one took 2008 MiB at quality 80). It fits 3008 MB, or 1536 MB once
    sources are limited to 28 MP."""
    spec, limits = Spec(8192, format="avif"), Limits()
    worst = memory.worst_case_bytes(spec, limits)
    assert 2_300 * MIB <= worst <= 2_700 * MIB
    assert not memory.fits(worst, Limits(memory_mb=512))
    assert not memory.fits(worst, Limits(memory_mb=1536))
    assert memory.fits(worst, Limits(memory_mb=3008))
    assert memory.fits(memory.worst_case_bytes(spec, Limits(max_source_pixels=28_000_000)), limits)
    assert not memory.fits(memory.worst_case_bytes(spec, Limits(max_source_pixels=29_000_000)), limits)


def test_worst_case_bounds_the_estimate_of_any_source_no_taller_than_wide():
    spec, limits = Spec(1280, format="webp"), Limits(max_source_pixels=24_000_000, max_source_bytes=8 * MIB)
    worst = memory.worst_case_bytes(spec, limits)
    for source_format, mode in (("JPEG", "CMYK"), ("WEBP", "RGBA"), ("PNG", "I;16"), ("GIF", "P")):
        for width in (4899, 6000, 8000, 24_000):
            height = limits.max_source_pixels // width
            out = pipeline.output_size(width, height, spec)
            estimate = memory.estimate_peak_bytes(
                source_format=source_format,
                source_mode=mode,
                source_pixels=width * height,
                decoded_pixels=width * height,
                output_pixels=out[0] * out[1],
                fmt="webp",
                source_bytes=limits.max_source_bytes,
                multiscan=source_format == "JPEG",
            )
            assert estimate <= worst, (source_format, mode, width)


def test_a_width_only_preset_is_validated_as_a_square_box():
    """A source as narrow as the preset and as tall as the pixel limit allows would be kept whole (contain keeps
    the aspect ratio): such a strip is refused by its own render's estimate when requested, not by refusing the
    preset, which is validated as a square box."""
    limits = Limits(max_source_pixels=10_000_000)
    assert memory.worst_case_bytes(Spec(320, format="png"), limits) == memory.worst_case_bytes(
        Spec(320, 320, format="png"), limits
    )
    strip = Limits(max_source_pixels=50_000_000, memory_mb=1536)
    assert memory.fits(memory.worst_case_bytes(Spec(320, format="avif"), strip), strip)
    with pytest.raises(SourceTooLarge, match="would need about"):  # 320 x 156,250: kept whole, 50 MP of AVIF
        pipeline.render(images.png_header(320, 156_250), Spec(320, format="avif"), strip)


def test_fits_keeps_the_runtime_baseline_aside():
    limits = Limits(memory_mb=1024)
    room = 1024 * MIB - memory.RUNTIME_BASELINE_BYTES
    assert memory.fits(room, limits)
    assert not memory.fits(room + 1, limits)
