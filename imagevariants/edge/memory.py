"""How much memory a render takes, estimated before it starts, and the most a preset can ask for.

A render holds the source's bytes, then goes through phases that each peak on their own: decoding (the decoder's
buffers and, for unusual modes, the normalised copy), resizing (Lanczos's intermediate image), and encoding (the
output image, its sRGB copy and the encoder's own state). The estimate is the largest phase, each the sum of
measured bytes a pixel (decoded, source or output pixels) and a few fixed bytes. Every factor is in ``FACTORS``,
measured by benchmarks/memory.py (the peak RSS of each step in a fresh process, on smooth and noisy pixels from
1 to 48 MP; it prints the table) and rounded up so that no measured step or render is above its estimate.

``RUNTIME_BASELINE_BYTES`` is what the process holds before any render; :func:`fits` checks an estimate against
the function's memory less that.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import Busy
from .formats import FORMATS, OUTPUT_FORMATS

if TYPE_CHECKING:
    from .limits import Limits
    from .spec import Spec

MIB = 1 << 20

#: Kept over the sum of the measured factors: each is the largest of its runs, and a few of those are within 2% of
#: their factor (the allocator of another C library may round differently).
MARGIN = 1.05

#: The Lambda process before a render: Python, Pillow and the handler's imports, and one boto3 S3 client (58 MiB
#: measured in a fresh process), rounded up for the runtime's own client, which the measurement does not load.
RUNTIME_BASELINE_BYTES = 64 * MIB

#: Bytes a pixel, measured. Mode classes: ``grey`` (L and the modes normalised to it), ``colour`` (RGB, CMYK and
#: the other opaque modes), ``alpha`` (RGBA, LA, P, which may be transparent).
FACTORS: dict[str, Any] = {
    # Decoding, by the mode Pillow opens: (peak, held afterwards) per decoded pixel. Pillow keeps 4 bytes a pixel
    # for every multi-band mode; P, 1 and 16-bit modes also hold their normalised copy (I;16 goes through I and F).
    "decode": {
        "1": (2.1, 2.1),
        "L": (1.1, 1.1),
        "P": (5.1, 5.1),
        "I;16": (10.1, 3.1),
        "I": (9.1, 5.1),
        "F": (9.1, 5.1),
        "RGB": (4.1, 4.1),
        "RGBA": (4.1, 4.1),
        "LA": (4.1, 4.1),
        "CMYK": (4.1, 4.1),
        "other": (8.1, 8.1),  # YCbCr, LAB, PA...: converted to RGB(A) beside the decode
    },
    # Formats whose decoder holds more than the image while the source is open: (peak, held) per decoded pixel.
    # Pillow keeps WebP's animation decoder (its canvas and the previous one) and AVIF's decoder (YUV planes).
    "decoder": {"WEBP": (17.2, 12.6), "AVIF": (12.3, 7.8)},
    "decode_fixed": 4 * MIB,
    # A multi-scan JPEG (every progressive one): libjpeg holds 2 bytes per DCT coefficient of the whole image,
    # whatever the decode scale; per source pixel and component (4:2:0 chroma needs half of that).
    "coefficients": 2.05,
    # Lanczos resize, per (decoded pixel, sqrt(decoded * output pixels), output pixel): the horizontal pass's
    # image is output-wide and decoded-tall; a reduce() first for large ratios; RGBA is premultiplied in a copy.
    "resize": {"grey": (0.3, 1.05, 1.05), "colour": (1.05, 4.1, 4.1), "alpha": (5.1, 4.1, 4.1)},
    "resize_fixed": 2 * MIB,
    # The output image kept while it is encoded, and its sRGB copy (CMYK always; another mode with an ICC profile
    # when its decode is shared with the decode cache, so at most ``shared_decode`` pixels), per output pixel.
    "image": {"grey": 1.0, "colour": 4.0, "alpha": 4.0},
    "srgb": 4.05,
    "shared_decode": 48 * MIB // 4,
    # Encoding, per output pixel, by output format and mode class: the encoder's state, its output buffer and
    # the output bytes, plus fixed bytes. Noise at quality 100, the worst case of each (WebP of noise at quality 80
    # takes a third less; smooth photographs far less).
    "encode": {
        "jpeg": {"grey": 3.2, "colour": 5.5, "alpha": 9.2},
        "png": {"grey": 1.1, "colour": 3.2, "alpha": 4.1},
        "webp": {"grey": 33.0, "colour": 33.0, "alpha": 37.0},
        "avif": {"grey": 20.5, "colour": 28.0, "alpha": 31.0},
        "gif": {"grey": 3.5, "colour": 8.2, "alpha": 8.2},
    },
    "encode_fixed": {"jpeg": 2 * MIB, "png": 2 * MIB, "webp": 10 * MIB, "avif": 26 * MIB, "gif": 2 * MIB},
    # GIF from RGB quantizes with a hash of the distinct colours: per colour, at most 2**24 of them.
    "gif_colours": 40.0,
    # Animations (every frame kept for GIF, WebP and AVIF output): per pixel of one source frame (the decoder,
    # its RGBA copy, the resize), per output pixel of every frame (kept until the encoder has them all, and the
    # encoded frames), plus one frame's encode (``encode``, alpha) and fixed bytes beside the encoder's.
    "animation": {
        "frame_decode": {"GIF": 12.5, "WEBP": 18.0, "AVIF": 14.5, "PNG": 12.5, "other": 18.0},
        "frames": {"gif": 8.0, "webp": 7.0, "avif": 8.5},
        "fixed": 8 * MIB,
    },
}

GREY_MODES = ("L", "1", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "LA", "P", "PA", "RGBa", "La")


def _mode_class(mode: str) -> str:
    return "grey" if mode in GREY_MODES else "alpha" if mode in ALPHA_MODES else "colour"


def _decode_factors(source_format: str, source_mode: str) -> tuple[float, float]:
    table = FACTORS["decode"]
    mode = "I;16" if source_mode.startswith("I;16") else source_mode
    peak, held = table.get(mode, table["other"])
    extra = FACTORS["decoder"].get(source_format)
    return (max(peak, extra[0]), max(held, extra[1])) if extra else (peak, held)


def decode_bytes(
    source_format: str, source_mode: str, source_pixels: int, decoded_pixels: int, multiscan: bool
) -> tuple[float, float]:
    """(peak, held) bytes of decoding: while the decoder runs, and what stays for the next steps."""
    peak, held = _decode_factors(source_format, source_mode)
    coefficients = 0.0
    if multiscan and source_format in ("JPEG", "MPO"):
        components = {"L": 1, "CMYK": 4}.get(source_mode, 3)
        coefficients = FACTORS["coefficients"] * components * source_pixels
    fixed = FACTORS["decode_fixed"]
    return peak * decoded_pixels + coefficients + fixed, held * decoded_pixels + fixed


def resize_bytes(mode: str, decoded_pixels: int, output_pixels: int) -> float:
    """Peak bytes of the resize beside its input (nothing when the size does not change)."""
    if output_pixels >= decoded_pixels:
        return 0.0
    per_in, per_mean, per_out = FACTORS["resize"][_mode_class(mode)]
    mean = math.sqrt(decoded_pixels * output_pixels)
    return per_in * decoded_pixels + per_mean * mean + per_out * output_pixels + FACTORS["resize_fixed"]


def encode_bytes(mode: str, output_pixels: int, fmt: str) -> float:
    """Peak bytes of encoding beside the image it encodes (the output image itself is not included)."""
    kind = _mode_class(mode)
    total = FACTORS["encode"][fmt][kind] * output_pixels + FACTORS["encode_fixed"][fmt]
    if fmt == "gif" and kind == "colour":
        total += FACTORS["gif_colours"] * min(output_pixels, 1 << 24)
    return total


def animation_bytes(source_format: str, frame_pixels: int, output_pixels: int, fmt: str, frames: int) -> float:
    """Peak bytes of an animation render: one source frame at a time, every output frame kept, then encoded."""
    table = FACTORS["animation"]
    decode = table["frame_decode"].get(source_format, table["frame_decode"]["other"])
    kept = table["frames"][fmt] * frames * output_pixels
    return decode * frame_pixels + kept + encode_bytes("RGBA", output_pixels, fmt) + table["fixed"]


def estimate_peak_bytes(
    *,
    source_format: str,
    source_mode: str,
    source_pixels: int,
    decoded_pixels: int,
    output_pixels: int,
    fmt: str,
    frames: int = 1,
    source_bytes: int = 0,
    multiscan: bool = False,
    icc_profile: bool = True,
    transposed: bool = True,
) -> int:
    """The peak memory of one render beside the process's baseline, in bytes; never under the measured peak.

    ``source_format`` and ``source_mode``: Pillow's ``format`` and ``mode`` of the opened source;
    ``decoded_pixels``: its size after JPEG shrink-on-load (of one frame); ``output_pixels``: of one output frame;
    ``frames``: more than 1 for an animation that is kept animated (``_animation``); ``source_bytes``: the file's
    size (held, and copied by some decoders); ``multiscan``: a JPEG with more than one scan (every progressive
    JPEG), which libjpeg decodes through a buffer of the whole image's coefficients; ``icc_profile``: the source
    embeds one (the sRGB step may copy the output); ``transposed``: its EXIF orientation turns or flips it (a copy
    of the output). The defaults of the last two are the conservative ones.

    Against the renders benchmarks/memory.py measures, the estimate is 7-75% above the peak of a full-size variant
    (1.07 for the worst, a 48 MP WebP with alpha made a full-size WebP); a thumbnail's peak is small beside the
    fixed bytes (10-40 MiB, and twice the source's bytes), so its estimate can be a few times its peak.
    """
    held_source = 2 * source_bytes
    if frames > 1:
        animation = animation_bytes(source_format, decoded_pixels, output_pixels, fmt, frames)
        return math.ceil((held_source + animation) * MARGIN)
    decode_peak, decoded = decode_bytes(source_format, source_mode, source_pixels, decoded_pixels, multiscan)
    kind = _mode_class(source_mode)
    # The output is a new image when resized or turned; otherwise it is the decode itself, which the sRGB step
    # converts in place unless the decode cache shares it (a decode of at most ``shared_decode`` pixels).
    new_image = output_pixels < decoded_pixels or transposed
    output = FACTORS["image"][kind] * output_pixels if new_image else 0.0
    if source_mode == "CMYK":
        output += FACTORS["srgb"] * output_pixels
    elif icc_profile and not new_image:
        output += FACTORS["srgb"] * min(output_pixels, FACTORS["shared_decode"])
    peak = max(
        decode_peak,
        decoded + resize_bytes(source_mode, decoded_pixels, output_pixels),
        decoded + output + encode_bytes(source_mode, output_pixels, fmt),
    )
    return math.ceil((held_source + peak) * MARGIN)


#: The sources :func:`worst_case_bytes` tries: (Pillow format, mode, multi-scan JPEG), one of each kind of cost.
WORST_SOURCES = (
    ("JPEG", "CMYK", True),
    ("JPEG", "RGB", True),
    ("JPEG", "L", True),
    ("WEBP", "RGBA", False),
    ("WEBP", "RGB", False),
    ("AVIF", "RGBA", False),
    ("PNG", "RGBA", False),
    ("PNG", "P", False),
    ("PNG", "I;16", False),
    ("TIFF", "F", False),
    ("TIFF", "CMYK", False),
    ("TIFF", "YCbCr", False),
)
ANIMATED_SOURCES = ("GIF", "WEBP", "AVIF", "PNG", "other")


def worst_case_bytes(spec: Spec, limits: Limits) -> int:
    """The largest estimate that a source within ``limits`` can produce for ``spec``, for validating presets.

    Pixels: a source has at most ``max_source_pixels`` (every frame together), and the worst one is decoded whole:
    JPEG shrink-on-load does nothing for a source as wide as the preset, and no other format has it. Output
    pixels: never more than the source's (no upscaling) nor than the preset's box, width x height; a preset with a
    width only is taken as a square box. A source taller than square can still make a larger variant (contain
    keeps its aspect ratio): the estimate of each render refuses that one when it is requested (413), so a preset
    is not refused for the sake of a strip a thousand times taller than wide. Bytes: the largest source allowed.
    Every kind of source in ``WORST_SOURCES`` is tried (its mode, decoder and multi-scan coefficients), and, when
    the output can be animated, every frame count up to ``max_frames`` sharing the pixel limit. A spec without a
    format keeps the source's, so every output format is tried.
    """
    pixels = limits.max_source_pixels
    box = spec.width * (spec.height or spec.width)
    formats = (spec.format,) if spec.format else OUTPUT_FORMATS
    worst = 0
    for fmt in formats:
        output = min(pixels, box)
        for source_format, mode, multiscan in WORST_SOURCES:
            estimate = estimate_peak_bytes(
                source_format=source_format,
                source_mode=mode,
                source_pixels=pixels,
                decoded_pixels=pixels,
                output_pixels=output,
                fmt=fmt,
                source_bytes=limits.max_source_bytes,
                multiscan=multiscan,
            )
            worst = max(worst, estimate)
        if not FORMATS[fmt].animation:
            continue
        for frames in range(2, limits.max_frames + 1):
            frame = pixels // frames
            for source_format in ANIMATED_SOURCES:
                estimate = estimate_peak_bytes(
                    source_format=source_format,
                    source_mode="RGBA",
                    source_pixels=frame,
                    decoded_pixels=frame,
                    output_pixels=min(frame, box),
                    fmt=fmt,
                    frames=frames,
                    source_bytes=limits.max_source_bytes,
                )
                worst = max(worst, estimate)
    return worst


def available_bytes(limits: Limits) -> int:
    """What a render may use: the function's memory less the runtime's baseline."""
    return limits.memory_mb * MIB - RUNTIME_BASELINE_BYTES


def fits(estimate: int, limits: Limits) -> bool:
    """Whether a render estimated at ``estimate`` bytes fits the function's memory beside the runtime."""
    return estimate <= available_bytes(limits)


class Reservations:
    """Memory promised to the renders running in this process: a render starts only when its estimate fits beside
    theirs (a Lambda container renders one at a time; the local edge, in a web process, several)."""

    def __init__(self) -> None:
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    @contextmanager
    def hold(self, nbytes: int, limits: Limits) -> Iterator[None]:
        """Reserve ``nbytes`` for the block; Busy (503) when it does not fit beside the renders under way."""
        with self._lock:
            if self._held and not fits(self._held + nbytes, limits):
                raise Busy(
                    f"{nbytes // MIB} MiB do not fit beside the {self._held // MIB} MiB of the renders under way"
                )
            self._held += nbytes
        try:
            yield
        finally:
            with self._lock:
                self._held -= nbytes


#: This process's reservations.
reservations = Reservations()
