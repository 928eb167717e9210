"""The image pipeline: decode within limits, orient, convert to sRGB, resize, encode.

Shared by Lambda, the local edge and the Django side (``probe`` fills in a source's dimensions on upload).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from PIL import (  # the decoders of formats.DECODERS, registered without importing every Pillow plugin
    AvifImagePlugin,  # noqa: F401
    BmpImagePlugin,  # noqa: F401
    GifImagePlugin,  # noqa: F401
    Image,
    ImageChops,
    ImageCms,
    ImageSequence,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    WebPImagePlugin,  # noqa: F401
)

from .cost import MAX_RENDER_SECONDS, Work, estimate_seconds
from .errors import EdgeError, SourceTooLarge, Undecodable
from .formats import DECODERS, FORMATS, kept_format
from .limits import Deadline, Limits
from .memory import MIB, available_bytes, estimate_peak_bytes, fits, reservations
from .screen import Structure, exif_tags, screen_bytes, screen_image

if TYPE_CHECKING:
    from .spec import Spec

__all__ = [
    "AVIF_FASTEST",
    "AVIF_SPEEDS",
    "DecodeCache",
    "Probe",
    "Rendered",
    "avif_speed",
    "decode_cache",
    "output_size",
    "probe",
    "render",
]

_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
#: EXIF orientation: the transpose that makes the stored image upright (as ImageOps.exif_transpose), and where
#: a point given as fractions of the upright image lies in the stored one.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_STORED_POINT = {
    1: lambda x, y: (x, y),
    2: lambda x, y: (1 - x, y),
    3: lambda x, y: (1 - x, 1 - y),
    4: lambda x, y: (x, 1 - y),
    5: lambda x, y: (y, x),
    6: lambda x, y: (y, 1 - x),
    7: lambda x, y: (1 - y, 1 - x),
    8: lambda x, y: (1 - y, x),
}
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class Probe:
    """What the Django side records about a source: oriented size and output format if kept."""

    width: int
    height: int
    format: str  # one of the output formats; a source in another format is kept as jpeg or png


@dataclass(frozen=True)
class Rendered:
    data: bytes
    format: str
    width: int
    height: int
    source_width: int = 0  # the upright source's size, for the logs
    source_height: int = 0

    @property
    def content_type(self) -> str:
        return FORMATS[self.format].mime


def output_size(src_width: int, src_height: int, spec: Spec) -> tuple[int, int]:
    """The output size of ``spec`` for an (oriented) source size. Never upscales."""
    if spec.fit == "cover" and spec.height:
        if spec.width <= src_width and spec.height <= src_height:
            return spec.width, spec.height
        scale = min(src_width / spec.width, src_height / spec.height, 1.0)
        return max(1, round(spec.width * scale)), max(1, round(spec.height * scale))
    scale = min(spec.width / src_width, (spec.height / src_height) if spec.height else 1.0, 1.0)
    return max(1, round(src_width * scale)), max(1, round(src_height * scale))


def _open(data: bytes, limits: Limits) -> tuple[Image.Image, Structure]:
    max_bytes, max_pixels = limits.max_source_bytes, limits.max_source_pixels
    if len(data) > max_bytes:
        raise SourceTooLarge(f"source is {len(data)} bytes, over the limit of {max_bytes}")
    structure = screen_bytes(data, limits)  # scans, frames, chunks, strips: before Image.open reads them
    try:
        image = Image.open(io.BytesIO(data), formats=DECODERS)
    except Image.DecompressionBombError as exc:
        raise SourceTooLarge(str(exc)) from None
    except MemoryError:
        raise
    except Image.UnidentifiedImageError:  # its message holds the address of a buffer: never shown
        raise Undecodable(f"not a decodable image: none of {', '.join(DECODERS)}") from None
    except Exception as exc:  # OSError, SyntaxError and whatever a malformed file raises
        raise Undecodable(f"not a decodable image: {type(exc).__name__}: {exc}") from None
    if image.width * image.height > max_pixels:
        raise SourceTooLarge(f"source is {image.width}x{image.height} pixels, over the limit of {max_pixels}")
    screen_image(image, data, limits)  # the codec's frame count, RLE data, the ICC profile
    return image, structure


def _orientation(image: Image.Image, structure: Structure) -> int:
    """The EXIF orientation, read from the header: a PNG's eXIf chunk comes from the walk of its bytes, since
    Pillow decodes the whole image to find one that follows the image data (before any estimate of its cost)."""
    try:
        if image.format == "PNG" and "exif" not in image.info:
            block = structure.png_exif  # walked by the screen already
            raw = image.info.get("Raw profile type exif")  # ImageMagick's: hex in a text chunk, not walked yet
            if not block and raw:
                block = bytes.fromhex("".join(raw.split("\n")[3:]))
                exif_tags(block)
            if not block:
                return 1
            exif = Image.Exif()
            exif.load(b"Exif\x00\x00" + block.removeprefix(b"Exif\x00\x00"))
            return int(exif.get(0x0112, 1))
        return int(image.getexif().get(0x0112, 1))
    except EdgeError:
        raise
    except Exception:  # a broken EXIF block must not lose the image
        return 1


def _kept_format(image: Image.Image) -> str:
    return kept_format(image.format or "", image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info)


def probe(data: bytes, limits: Limits) -> Probe:
    """Read a source's oriented size and format without decoding its pixels; raise what the edge would refuse."""
    image, structure = _open(data, limits)
    width, height = image.size
    if _orientation(image, structure) in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return Probe(width, height, _kept_format(image))


def _normalise(image: Image.Image) -> Image.Image:
    """Bring unusual modes (16-bit, palette, bilevel) to ones every step handles; CMYK stays for its profile."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Scale to 8 bits, never clip: 16-bit by 256; 32-bit integers or floats by their own range (if over 255).
        # One band: its extrema are (low, high), not a pair per band.
        high = cast("tuple[float, float]", image.getextrema())[1] if image.mode in ("I", "F") else 65535
        if image.mode.startswith("I;16"):
            image = image.convert("I")
        if high > 255:
            divisor = 256 if high <= 65535 else high / 255
            image = image.point(lambda value: value / divisor, "F")
        return image.convert("L")
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("PA", "RGBa", "La"):
        return image.convert("RGBA")
    if image.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return image.convert("RGBA" if "A" in image.mode else "RGB")
    return image


@functools.lru_cache(maxsize=16)
def _transform(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from an embedded profile to sRGB, once per profile per container; None when it changes
    nothing (the profile is sRGB already: most camera and phone photos), so the step is skipped."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    out_mode = "RGBA" if mode == "RGBA" else "RGB"
    transform = ImageCms.buildTransform(source, _SRGB, mode, out_mode, flags=ImageCms.Flags.NOCACHE)
    if mode != "CMYK":
        probe_image = Image.frombytes("RGB", (16, 16), bytes(range(0, 256, 1)) * 3).convert(mode)
        converted = cast(Image.Image, ImageCms.applyTransform(probe_image, transform))  # not in place: a new image
        extrema = cast("tuple[tuple[int, int], ...]", ImageChops.difference(probe_image, converted).getextrema())
        diff = max(high for _, high in extrema)  # RGB or RGBA: a (low, high) per band
        if diff <= 1:
            return None
    return transform


def _to_srgb(image: Image.Image, profile: bytes | None, owned: bool = False) -> Image.Image:
    """Convert to sRGB with the source's ICC profile when there is one (after resizing: fewer pixels).

    ``owned``: the image is this request's own (not a cached decode), so an RGB to RGB conversion may happen in
    place, sparing a copy (72 MB for a full-size 24 MP photo).
    """
    if profile and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            transform = _transform(profile, image.mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            transform = None  # an unusable profile: fall back to Pillow's plain conversion
        if transform is not None:
            if owned and image.mode != "CMYK":
                ImageCms.applyTransform(image, transform, inPlace=True)
                return image
            return cast(Image.Image, ImageCms.applyTransform(image, transform))  # not in place: a new image
    return image.convert("RGB") if image.mode == "CMYK" else image


def _flatten(image: Image.Image, background: str) -> Image.Image:
    if image.mode not in ("RGBA", "LA"):
        return image
    base = Image.new("RGB", image.size, background)
    base.paste(image.convert("RGBA"), mask=image.getchannel("A"))
    return base


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image  # loaded, as stored (not yet upright), normalised mode, colours not yet converted
    profile: bytes | None

    @property
    def nbytes(self) -> int:
        """Memory held: Pillow keeps one byte a pixel for L, four for the other normalised modes (RGB too)."""
        return self.image.width * self.image.height * (1 if self.image.mode == "L" else 4)


class DecodeCache:
    """Decoded sources kept by a warm container for the next requests of the same source (bounded in bytes).

    Entries are keyed by a digest of the source's bytes and the size the decoder produced (for a JPEG, its DCT
    scale), which is a function of the source and the spec alone. A hit therefore gives exactly the pixels a cold
    decode would: output bytes never depend on what a container did before. Siblings share an entry when they need
    the same decode: the other formats of one width, the widths one DCT scale serves, every variant of a PNG.
    """

    def __init__(self, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes if max_entry_bytes is None else max_entry_bytes
        self._entries: OrderedDict[tuple, _Decoded] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> _Decoded | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: _Decoded) -> bool:
        """Keep ``entry``; False when it is larger than an entry may be (it is then not kept)."""
        with self._lock:
            self._entries.pop(key, None)
            if entry.nbytes > self.max_entry_bytes:
                return False
            self._entries[key] = entry
            while sum(e.nbytes for e in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Memory held by the kept decodes."""
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The container's cache: 96 MB of decoded pixels, 48 MB at most for one (a 12 MP RGB or RGBA decode): a full-size
#: decode of a larger photo is not kept, so it never sits in memory next to the next one.
decode_cache = DecodeCache(96 * 1024 * 1024, 48 * 1024 * 1024)


def render(
    data: bytes,
    spec: Spec,
    limits: Limits,
    focus: tuple[float, float] = (0.5, 0.5),
    deadline: Deadline | None = None,
) -> Rendered:
    """Make one variant of ``data`` as ``spec`` says. Raises SourceTooLarge or Undecodable for bad input.

    The output depends on ``data`` and ``spec`` only (and ``focus``), never on earlier requests: sources are
    decoded at the smallest size the spec needs (JPEG shrink-on-load), and a decode kept in ``decode_cache`` is
    reused only by requests that would have decoded exactly the same pixels.

    ``focus``: for ``cover``, the point of the (upright) source to keep in view, as fractions of its width and
    height; the crop is centred on it as far as the source allows. A caller that varies it must make it part of
    the variant's key, as every other output-affecting parameter is.
    """
    image, structure = _open(data, limits)
    fmt = spec.format or _kept_format(image)
    orientation = _orientation(image, structure)
    src_w, src_h = image.size
    if orientation in _SWAPPING_ORIENTATIONS:
        src_w, src_h = src_h, src_w
    out_w, out_h = output_size(src_w, src_h, spec)
    made = functools.partial(Rendered, format=fmt, width=out_w, height=out_h, source_width=src_w, source_height=src_h)
    deadline = deadline or Deadline(float("inf"))
    try:
        # An MPO (a phone's JPEG with a preview or depth map appended) is one photograph, not an animation.
        animated = getattr(image, "is_animated", False) and image.format != "MPO" and FORMATS[fmt].animation
        source = (image.format or "", image.mode, image.width * image.height)
        if not animated:
            image = _shrink_on_load(image, (out_w, out_h), (src_w, src_h))
        peak = _afford(image, source, structure, fmt, (out_w, out_h), animated, len(data), limits, deadline)
        with reservations.hold(peak, limits):
            if animated:
                return made(_animation(image, (out_w, out_h), fmt, spec, limits.max_source_pixels, focus, deadline))
            return made(_still(image, data, spec, fmt, orientation, (out_w, out_h), focus, deadline))
    except (EdgeError, MemoryError):
        raise
    except Image.DecompressionBombError as exc:
        raise SourceTooLarge(str(exc)) from None
    except Exception as exc:  # a malformed source must be a 4xx, never the handler's 503: the log line names it
        raise Undecodable(f"source could not be decoded: {type(exc).__name__}: {exc}") from None


def _still(
    image: Image.Image,
    data: bytes,
    spec: Spec,
    fmt: str,
    orientation: int,
    out: tuple[int, int],
    focus: tuple[float, float],
    deadline: Deadline,
) -> bytes:
    """Decode (or take the kept decode), resize as stored, turn upright, convert to sRGB and encode one image."""
    key = (hashlib.sha256(data).digest(), image.size, image.mode)  # SHA-256: 2.5x BLAKE2b's speed (SHA-NI)
    decoded = decode_cache.get(key)
    shared = decoded is not None
    if decoded is None:
        deadline.check("decoding")
        decoded = _decode(image)
        shared = decode_cache.put(key, decoded)
    # Resize as stored, then turn upright: the transpose moves the output's pixels, not the source's.
    stored_size = (out[1], out[0]) if orientation in _SWAPPING_ORIENTATIONS else out
    stored_focus = _STORED_POINT.get(orientation, _STORED_POINT[1])(*focus)
    deadline.check("resizing")
    resized = _resize(decoded.image, stored_size, spec, stored_focus)
    if orientation in _UPRIGHT:
        resized = resized.transpose(_UPRIGHT[orientation])
    owned = resized is not decoded.image or not shared
    converted = _to_srgb(resized, decoded.profile, owned)
    deadline.check("encoding")
    return _encode(converted, fmt, spec)


def _afford(
    image: Image.Image,
    source: tuple[str, str, int],
    structure: Structure,
    fmt: str,
    out: tuple[int, int],
    animated: bool,
    size: int,
    limits: Limits,
    deadline: Deadline,
) -> int:
    """Refuse a render whose estimated time or peak memory cannot fit (413), or that cannot finish before the
    deadline (503), before any pixel is decoded. ``image`` is opened at its decode size; ``source`` is the file's
    (format, mode, pixels of one frame as stored). Returns the estimated peak memory."""
    source_format, mode, stored_pixels = source
    frames = max(structure.frames, getattr(image, "n_frames", 1) if source_format == "AVIF" else 1) if animated else 1
    decoded, output = image.width * image.height, out[0] * out[1]
    if animated:  # every frame is decoded whole: a TIFF's pages may be larger than its first
        decoded = max(decoded, structure.largest_frame)
    speed = max(8, avif_speed(out[0], out[1] * frames)) if animated else avif_speed(*out)
    work = Work(source_format, stored_pixels, decoded, output, fmt, frames, structure.scans, speed)
    peak = estimate_peak_bytes(
        source_format=source_format,
        source_mode=mode,
        source_pixels=stored_pixels,
        decoded_pixels=decoded,
        output_pixels=output,
        fmt=fmt,
        frames=frames,
        source_bytes=size,
        multiscan=structure.scans > 1,
    )
    if not fits(peak + decode_cache.nbytes, limits):
        decode_cache.clear()  # the decodes a warm container keeps give way to a render that needs the room
    if not fits(peak, limits):
        raise SourceTooLarge(
            f"rendering would need about {peak / MIB:.0f} MiB, over the {available_bytes(limits) / MIB:.0f} MiB"
            f" the function has beside its runtime (memory_mb={limits.memory_mb})"
        )
    seconds = estimate_seconds(work)
    if seconds > MAX_RENDER_SECONDS:
        raise SourceTooLarge(
            f"rendering would take about {seconds:.0f} s, over the {MAX_RENDER_SECONDS:.0f} s one render may take"
        )
    deadline.check("rendering", seconds)
    return peak


def _shrink_on_load(image: Image.Image, out: tuple[int, int], upright: tuple[int, int]) -> Image.Image:
    """JPEG: ask the decoder for the smallest DCT scale (1/2, 1/4, 1/8) that still covers the output size.

    The scale is the same in both orientations, so it applies to the file's own width and height. Asking for
    the output size itself, not a multiple, is the measured choice (docs/reference/pipeline.md).
    """
    if image.format not in ("JPEG", "MPO"):
        return image
    scale = min(1.0, max(out[0] / upright[0], out[1] / upright[1]))
    size = (math.ceil(image.width * scale), math.ceil(image.height * scale))
    if size != image.size:
        image.draft(image.mode, size)
    return image


def _decode(image: Image.Image) -> _Decoded:
    """Decode (at the draft size already chosen) in a mode every step handles."""
    profile = image.info.get("icc_profile")
    image.load()
    image = _normalise(image)
    return _Decoded(image, profile if image.mode in ("RGB", "RGBA", "CMYK") else None)


def _resize(
    image: Image.Image, size: tuple[int, int], spec: Spec, focus: tuple[float, float] = (0.5, 0.5)
) -> Image.Image:
    box = None
    if spec.fit == "cover":
        # Crop the box's aspect ratio around the focus (the centre by default), in the (draft-reduced) image.
        ratio = size[0] / size[1]
        w, h = image.size
        crop_w, crop_h = (h * ratio, h) if w / h > ratio else (w, w / ratio)
        fx, fy = (min(1.0, max(0.0, float(v))) for v in focus)
        left = min(max(fx * w - crop_w / 2, 0.0), w - crop_w)
        top = min(max(fy * h - crop_h / 2, 0.0), h - crop_h)
        box = (left, top, left + crop_w, top + crop_h)
    if size != image.size or box:
        image = image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
    return image


def _animation(
    image: Image.Image,
    size: tuple[int, int],
    fmt: str,
    spec: Spec,
    max_pixels: int,
    focus: tuple[float, float],
    deadline: Deadline,
) -> bytes:
    """Resize every frame of an animated GIF or WebP and keep the animation (timing and loop count)."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    decoded = 0
    for frame in ImageSequence.Iterator(image):
        deadline.check(f"frame {len(frames) + 1}")
        decoded += frame.width * frame.height
        if decoded > max_pixels:
            raise SourceTooLarge(f"animation has more than {max_pixels} pixels in all its frames")
        rgba = frame.convert("RGBA")  # decodes the frame, which sets its duration (WebP)
        duration = frame.info.get("duration")
        durations.append(100 if duration is None else round(duration))  # APNG's are floats; AVIF wants integers
        if fmt != "gif" and rgba.getchannel("A").getextrema()[0] == 255:
            rgba = rgba.convert("RGB")  # opaque: no alpha to premultiply while resizing, nor to encode
        resized = _resize(rgba, size, spec, focus)
        resized.info = {}  # frames inherit the source's info (EXIF, XMP, profile): nothing of it is written
        frames.append(resized)
    if any(frame.mode == "RGBA" for frame in frames):
        frames = [frame if frame.mode == "RGBA" else frame.convert("RGBA") for frame in frames]
    output = FORMATS[fmt]
    options = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": image.info.get("loop", 0)}
    options.update(output.animated_options)
    if output.quality:
        options["quality"] = spec.quality
    if fmt == "avif":  # one AV1 encode per frame: never slower than speed 8, sized on all the frames together
        options["speed"] = max(8, avif_speed(size[0], size[1] * len(frames)))
    deadline.check("encoding the animation")
    out = io.BytesIO()
    frames[0].save(out, output.pillow, **options)
    return out.getvalue()


#: libaom's speed by output size: the slowest (smallest files) that keeps a cold AVIF request within a few seconds
#: on one core (measured in docs/reference/pipeline.md). One thread: the output must not depend on the machine.
AVIF_SPEEDS = ((2_500_000, 6), (12_000_000, 8))
AVIF_FASTEST = 9


def avif_speed(width: int, height: int) -> int:
    """The AVIF encoder speed for an output of ``width`` x ``height`` (a function of the spec and source only)."""
    pixels = width * height
    return next((speed for limit, speed in AVIF_SPEEDS if pixels <= limit), AVIF_FASTEST)


def _encode(image: Image.Image, fmt: str, spec: Spec) -> bytes:
    image.info = {}  # strip every piece of metadata (EXIF, GPS, XMP, the source's ICC profile)
    output = FORMATS[fmt]
    if not output.alpha:
        image = _flatten(image, spec.background)
    elif fmt == "gif":
        if image.mode == "LA":
            image = image.convert("RGBA")
        if image.mode not in ("P", "L", "RGBA"):  # Pillow's GIF saver quantizes RGBA itself, keeping transparency
            image = image.convert("P", palette=Image.Palette.ADAPTIVE)
    options = dict(output.options)
    if output.quality:
        options["quality"] = spec.quality
    if fmt == "avif":
        options["speed"] = avif_speed(image.width, image.height)
    out = io.BytesIO()
    image.save(out, output.pillow, **options)
    return out.getvalue()
