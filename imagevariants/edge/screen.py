"""Refuse, before decoding, a source whose cost is not its pixel count (a 413, ``SourceTooLarge``).

Bytes and pixels bound most of a render, not all of it: decoders also pay for every scan, frame, chunk, block or
strip a file lists, and a few bytes can list thousands (a JPEG that repeats one progressive scan, a GIF of 20,000
one-pixel frames, a TIFF whose strip table goes round the image again and again). :func:`screen` counts those
structures in the raw bytes, in pure Python, and stops as soon as a count is over its limit: a few milliseconds,
tens at most for a 40 MB file. benchmarks/hostile.py measures each class of file, before and after.

Limits a document may tune are in :class:`~.limits.Limits` (frames, JPEG scans); the others are constants here.
They bound pathological structure, far above what real images have; each comment gives the cost it bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageFile

from .avif import check_frame_sizes
from .errors import SourceTooLarge
from .limits import Limits

#: Marker segments of a JPEG, up to its first EOI. Real files have 10 to 50 (a few hundred with extended XMP; 640
#: of the largest fill 40 MB). libjpeg skips them in nanoseconds: this bounds the walk itself.
MAX_JPEG_SEGMENTS = 4096
#: Chunks of a PNG (APNG frames' included). libpng writes 8 KB IDAT chunks (5,000 in 40 MB); Pillow spends 3-5 us on
#: each chunk, in Python, when it loads the image: 65,536 tiny ones take 0.2-0.35 s.
MAX_PNG_CHUNKS = 65_536
#: GIF data sub-blocks (and stray bytes between blocks): a base and one for each 128 bytes of file. Encoders write
#: full 255-byte sub-blocks (one for each 256 bytes); Pillow walks each in Python, 0.5-0.8 us a sub-block.
GIF_BLOCKS_BASE = 4096
GIF_BYTES_PER_BLOCK = 128
#: IFD entries of a TIFF: all its pages, and the first page's Exif, GPS and Interop directories. Pillow parses each
#: entry in Python, twice or more for every page it shows (7-14 us an entry): 0.2-0.4 s at the limit. Real pages
#: have 15 to 150 entries.
MAX_TIFF_ENTRIES = 32_768
#: Strips (or tiles) of a TIFF's uncompressed pages, all together: Pillow decodes each on its own, in Python
#: (6-10 us a strip: 0.4-0.65 s at the limit). libtiff writes 8 KB strips (5,000 in 40 MB). Strips of compressed
#: pages are read by libtiff itself, 0.4 us each, and not counted.
MAX_TIFF_STRIPS = 65_536
#: Values of one numeric TIFF or EXIF tag, and of all of them together: Pillow turns each value into a Python
#: object (a rational into a Fraction) whenever it reads the tags, even to find the orientation; one RATIONAL tag
#: of 5 million values (40 MB) took 16 s and 1.7 GB. Real tags hold a few values (a transfer function 768).
MAX_TAG_VALUES = 65_536
MAX_TAG_VALUES_TOTAL = 262_144
#: Pixels of an RLE-compressed BMP: Pillow decodes RLE in Python, up to 0.2 us a pixel (0.65-1 s at the limit).
#: 2560x1600 fits; RLE BMPs are small legacy images.
MAX_BMP_RLE_PIXELS = 4_194_304
#: An embedded ICC profile. Real ones are a few KB (matrix-shaper) up to about 3 MB (CMYK press profiles, 16-bit
#: tables); littleCMS reads a table at about 15-30 ms a MB, and every distinct profile is kept by a warm container.
MAX_ICC_BYTES = 8 * 1024 * 1024
#: Processing elements of one float transform (an mpet tag: D2Bx, B2Dx) and the segments of its curves. Real
#: profiles have 3 to 5 elements of 1 to 3 segments; littleCMS evaluates every element, and looks every value's
#: segment up one at a time, at each point of the 33x33x33 grid it samples a transform on.
MAX_ICC_ELEMENTS = 32
MAX_ICC_CURVE_SEGMENTS = 1024

_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker, not a stuffed byte, restart marker or fill
_JPEG_STANDALONE = frozenset((0x01, 0xD8))  # TEM and SOI carry no length
_WEBP_OTHER_CHUNKS = 1024  # chunks besides frames a WebP walk reads (real files have VP8X, ICCP, ANIM, EXIF, XMP)
_GIF_INTRODUCERS = re.compile(rb"[\x21\x2c\x3b]")  # extension, image descriptor, trailer
_TIFF_TYPE_SIZES = {3: 2, 4: 4, 8: 2, 9: 4, 13: 4, 16: 8, 17: 8, 18: 8}  # the integer types, by size
#: The numeric TIFF/EXIF types (integers, rationals, floats, offsets): Pillow makes a Python object of each value.
_NUMERIC_TYPES = frozenset((3, 4, 5, 8, 9, 10, 11, 12, 13, 16, 17, 18))
#: Strip and tile offsets and byte counts (bounded by MAX_TIFF_STRIPS) and a palette's colour map (3 x 65,536 at
#: most): the only numeric tags that may hold more than MAX_TAG_VALUES values.
_LONG_TAGS = {273: MAX_TIFF_STRIPS, 279: MAX_TIFF_STRIPS, 324: MAX_TIFF_STRIPS, 325: MAX_TIFF_STRIPS, 320: 3 << 16}


def _refuse(what: str, limit: int, name: str) -> SourceTooLarge:
    return SourceTooLarge(f"source has more than {limit} {what}, over the limit {name}={limit}")


@dataclass(frozen=True)
class Structure:
    """What the walk of a source's bytes found: frames (or pages) and JPEG scans, for the render's cost, and a
    PNG's eXIf chunk (Pillow decodes a whole PNG to look for one that follows the image data)."""

    frames: int = 1
    scans: int = 1
    png_exif: bytes = b""
    largest_frame: int = 0  # pixels of the largest page of a TIFF (0: as the header says)


_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def screen_bytes(data: bytes, limits: Limits) -> Structure:
    """Walk the raw bytes before ``Image.open`` (which already pays for every header segment, chunk and block it
    reads), by the format their first bytes name; raise SourceTooLarge past a limit.

    A structure a walk cannot read (a file cut short or malformed) ends that walk: the decoder then refuses the
    file itself, having read no more of it than the walk did.
    """
    try:
        if data[:2] == b"\xff\xd8":
            return Structure(scans=_jpeg(data, limits))
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data, limits)
        if data[:4] == b"GIF8":
            return Structure(frames=_gif(data, limits))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return Structure(frames=_webp(data, limits))
        if data[:4] in _TIFF_MAGIC:
            return _tiff(data, limits)
    except (IndexError, ValueError, OverflowError):
        pass
    return Structure()


def screen_image(image: Image.Image, data: bytes, limits: Limits) -> None:
    """Check what only the opened (not loaded) ``image`` of ``data`` tells: the codec's own frame count (WebP,
    AVIF), an AVIF's true AV1 frame sizes against the size it declares, an RLE BMP's data against its pixels, and
    the embedded ICC profile; raise SourceTooLarge past a limit."""
    if image.format in ("WEBP", "AVIF") and getattr(image, "n_frames", 1) > limits.max_frames:
        raise _refuse("frames", limits.max_frames, "max_frames")
    if image.format == "AVIF":  # libavif decodes the AV1 frame whatever size the container declares
        refusal = check_frame_sizes(data, image.size, limits.max_source_pixels)
        if refusal:
            raise SourceTooLarge(f"source refused: {refusal}")
    exif = image.info.get("exif")
    if isinstance(exif, bytes) and exif:  # AVIF's Exif item (the other formats' were walked before opening)
        exif_tags(exif)
    try:
        if image.format == "BMP" and isinstance(image, ImageFile.ImageFile):  # opened from a file: it has tiles
            _bmp(image, len(data))
        profile = image.info.get("icc_profile")
        if isinstance(profile, bytes) and profile:
            _icc(profile)
    except (IndexError, ValueError, OverflowError):
        pass


def _jpeg(data: bytes, limits: Limits) -> int:
    """Count the marker segments and scans (SOS) up to the first EOI, skipping entropy-coded data as the decoder
    does (an MPO's later images are never decoded)."""
    segments = scans = 0
    pos = 2
    while True:
        found = _JPEG_MARKER.search(data, pos)
        if found is None:
            return max(scans, 1)
        marker = data[found.start() + 1]
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise _refuse("JPEG marker segments", MAX_JPEG_SEGMENTS, "MAX_JPEG_SEGMENTS")
        if marker == 0xD9:
            return max(scans, 1)
        if marker == 0xDA:
            scans += 1
            if scans > limits.max_jpeg_scans:
                raise _refuse("JPEG scans", limits.max_jpeg_scans, "max_jpeg_scans")
        elif marker == 0xE1 and data[found.end() + 2 : found.end() + 8] == b"Exif\x00\x00":
            exif_tags(data[found.end() + 2 : found.end() + int.from_bytes(data[found.end() : found.end() + 2], "big")])
        pos = found.end()
        if marker not in _JPEG_STANDALONE:
            pos += int.from_bytes(data[pos : pos + 2], "big")


def _png(data: bytes, limits: Limits) -> Structure:
    """Count chunks, and the frames an APNG declares (acTL) and lists (fcTL); keep the eXIf chunk's data."""
    chunks = frames = 0
    exif = b""
    pos, end = 8, len(data)
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _refuse("PNG chunks", MAX_PNG_CHUNKS, "MAX_PNG_CHUNKS")
        if kind == b"fcTL":
            frames += 1
        elif kind == b"eXIf" and not exif:
            exif = data[pos + 8 : pos + 8 + length]
            exif_tags(exif)
        if (kind == b"acTL" and int.from_bytes(data[pos + 8 : pos + 12], "big") > limits.max_frames) or (
            frames > limits.max_frames
        ):
            raise _refuse("frames", limits.max_frames, "max_frames")
        if kind == b"IEND":
            break
        pos += 12 + length
    return Structure(frames=max(frames, 1), png_exif=exif)


def _gif(data: bytes, limits: Limits) -> int:
    """Count frames (image descriptors) and data sub-blocks, walking the blocks as Pillow does, and the stray
    bytes between blocks that Pillow skips one at a time."""
    budget = GIF_BLOCKS_BASE + len(data) // GIF_BYTES_PER_BLOCK
    blocks = frames = 0
    flags = data[10]
    pos, end = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0), len(data)
    while pos < end:
        introducer = data[pos]
        if introducer == 0x3B:
            break
        if introducer == 0x21:
            pos += 2  # the label
        elif introducer == 0x2C:
            frames += 1
            if frames > limits.max_frames:
                raise _refuse("frames", limits.max_frames, "max_frames")
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1  # descriptor, local palette, code size
        else:
            found = _GIF_INTRODUCERS.search(data, pos, pos + budget - blocks + 1)  # no further than the budget
            skipped = (found.start() if found else min(end, pos + budget - blocks + 1)) - pos
            blocks += skipped
            if blocks > budget:
                raise _gif_refusal(budget)
            pos += skipped
            continue
        while pos < end:  # the data sub-blocks, up to the empty one
            size = data[pos]
            pos += 1 + size
            blocks += 1
            if size == 0:
                break
            if blocks > budget:
                raise _gif_refusal(budget)
    return max(frames, 1)


def _gif_refusal(budget: int) -> SourceTooLarge:
    return SourceTooLarge(
        f"source has more than {budget} GIF data blocks, over the limit of GIF_BLOCKS_BASE={GIF_BLOCKS_BASE} "
        f"and one for each GIF_BYTES_PER_BLOCK={GIF_BYTES_PER_BLOCK} bytes"
    )


def _webp(data: bytes, limits: Limits) -> int:
    """Count the frames (ANMF chunks) of the RIFF container. Other chunks cost libwebp nothing: past a thousand of
    them the walk stops, and libwebp's own frame count (checked next) stands."""
    frames = others = 0
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos + 8 <= end and others <= _WEBP_OTHER_CHUNKS:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"ANMF":
            frames += 1
            if frames > limits.max_frames:
                raise _refuse("frames", limits.max_frames, "max_frames")
        else:
            others += 1
            if data[pos : pos + 4] == b"EXIF":
                exif_tags(data[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return max(frames, 1)


class _Tiff:
    """Reads the IFDs of a TIFF or BigTIFF (in its byte order), counting their entries against MAX_TIFF_ENTRIES."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
        self.big = self.uint(2, 2) == 43
        self.entries = self.values = 0

    def uint(self, pos: int, size: int) -> int:
        return int.from_bytes(self.data[pos : pos + size], self.order)

    def first(self) -> int:
        return self.uint(8, 8) if self.big else self.uint(4, 4)

    def ifd(self, offset: int) -> tuple[dict[int, tuple[int, int]], int]:
        """The IFD at ``offset`` as {tag: (count, inline value or offset)}, and the next IFD's offset."""
        width = 8 if self.big else 4  # of a count, an offset and an entry's value field
        count = self.uint(offset, 8 if self.big else 2)
        self.entries += count
        if self.entries > MAX_TIFF_ENTRIES:
            raise _refuse("TIFF directory entries", MAX_TIFF_ENTRIES, "MAX_TIFF_ENTRIES")
        tags: dict[int, tuple[int, int]] = {}
        pos = offset + (8 if self.big else 2)
        for _ in range(count):
            tag, kind, values = self.uint(pos, 2), self.uint(pos + 2, 2), self.uint(pos + 4, width)
            if kind in _NUMERIC_TYPES:
                self._count(tag, values)
            size = _TIFF_TYPE_SIZES.get(kind, 1)
            inline = values == 1 and size in (2, 4, 8) and size <= width
            tags.setdefault(tag, (values, self.uint(pos + 4 + width, size if inline else width)))
            pos += 4 + 2 * width
        return tags, self.uint(pos, width)

    def _count(self, tag: int, values: int) -> None:
        if values > _LONG_TAGS.get(tag, MAX_TAG_VALUES):
            raise SourceTooLarge(f"source has a TIFF or EXIF tag ({tag}) of {values} values, over the limit")
        if tag not in _LONG_TAGS:
            self.values += values
            if self.values > MAX_TAG_VALUES_TOTAL:
                raise _refuse("TIFF or EXIF tag values", MAX_TAG_VALUES_TOTAL, "MAX_TAG_VALUES_TOTAL")

    def sub_ifds(self, tags: dict[int, tuple[int, int]], seen: set[int]) -> None:
        """Walk the Exif and GPS directories of ``tags`` (and the Exif one's Interop), as Pillow reads them."""
        for tag in (34665, 34853):
            sub = tags.get(tag, (0, 0))[1]
            if 0 < sub < len(self.data) and sub not in seen:
                seen.add(sub)
                found, _ = self.ifd(sub)
                interop = found.get(40965, (0, 0))[1] if tag == 34665 else 0
                if 0 < interop < len(self.data) and interop not in seen:
                    seen.add(interop)
                    self.ifd(interop)


def exif_tags(exif: bytes) -> None:
    """Walk an EXIF block (a TIFF structure, after an optional ``Exif\\0\\0``): its first directory and the ones
    Pillow reads from it, against the entry and value limits. Raises SourceTooLarge; a malformed block ends the
    walk quietly (Pillow then ignores it)."""
    try:
        tiff = _Tiff(exif.removeprefix(b"Exif\x00\x00"))
        first = tiff.first()
        if 0 < first < len(tiff.data):
            tags, _ = tiff.ifd(first)
            tiff.sub_ifds(tags, {first})
    except (IndexError, ValueError, OverflowError):
        pass


def _tiff(data: bytes, limits: Limits) -> Structure:
    """Walk the IFD chain: pages, directory entries and strips (or tiles), each page's against its size."""
    tiff = _Tiff(data)
    offset, seen, pages, strips = tiff.first(), set(), 0, 0
    first: dict[int, tuple[int, int]] = {}
    largest = 0
    while offset and offset not in seen and offset < len(data):
        seen.add(offset)
        pages += 1
        if pages > limits.max_frames:
            raise _refuse("pages", limits.max_frames, "max_frames")
        tags, offset = tiff.ifd(offset)
        if pages == 1:
            first = tags
        largest = max(largest, tags.get(256, (0, 0))[1] * tags.get(257, (0, 0))[1])
        if tags.get(259, (1, 1))[1] != 1:
            continue  # compressed: libtiff reads the strips the page's size needs, in C (0.4 us each)
        count = tags.get(273, tags.get(324, (0, 0)))[0]  # strips if both are given, as Pillow reads them
        strips += count
        if strips > MAX_TIFF_STRIPS:
            raise _refuse("uncompressed TIFF strips", MAX_TIFF_STRIPS, "MAX_TIFF_STRIPS")
        needed = _tiff_strips_needed(tags)
        if needed is not None and count > needed:
            raise SourceTooLarge(f"source lists {count} TIFF strips (or tiles) for a page whose size needs {needed}")
    tiff.sub_ifds(first, seen)  # Pillow reads the first page's Exif and GPS directories when it loads it
    return Structure(frames=max(pages, 1), largest_frame=largest)


def _tiff_strips_needed(tags: dict[int, tuple[int, int]]) -> int | None:
    """How many strips (or tiles) an uncompressed page's size needs: Pillow decodes any more too, going round the
    image again. None when it reads only the last (one strip covering the page) or the size is unreadable."""
    width, height = tags.get(256, (0, 0))[1], tags.get(257, (0, 0))[1]
    planar = tags.get(284, (1, 1))[1] == 2
    planes = max(tags.get(277, (1, 1))[1], 1) if planar else 1
    if 273 not in tags:  # tiles
        across, down = tags.get(322, (0, 0))[1], tags.get(323, (0, 0))[1]
    else:
        across, down = width, tags.get(278, (1, height))[1]
    if not (width and height and across and down) or (across == width and down == height and not planar):
        return None
    return -(-width // across) * -(-height // down) * planes


def _bmp(image: ImageFile.ImageFile, size: int) -> None:
    """RLE: Pillow decodes it in Python, so its pixels are limited, and its compressed data to what they need (a
    no-op escape, two bytes, is a Python step that makes no pixel)."""
    if image.info.get("compression") not in (1, 2) or not image.tile:
        return
    width, height = image.size
    if width * height > MAX_BMP_RLE_PIXELS:
        raise _refuse("pixels in an RLE-compressed BMP", MAX_BMP_RLE_PIXELS, "MAX_BMP_RLE_PIXELS")
    most = 2 * (width * height + height) + 4096  # a run of one pixel is 2 bytes; every row may end with 2 more
    if size - image.tile[0].offset > most:
        raise SourceTooLarge(f"source has over {most} bytes of RLE data, more than its {width}x{height} pixels need")


def _icc(profile: bytes) -> None:
    """Size, and the processing elements (and their curves' segments) of each mpet tag: the steps littleCMS
    evaluates at every grid point when it builds a transform from one."""
    if len(profile) > MAX_ICC_BYTES:
        raise _refuse("bytes in its ICC profile", MAX_ICC_BYTES, "MAX_ICC_BYTES")
    for index in range(min(int.from_bytes(profile[128:132], "big"), 100)):  # littleCMS reads 100 tags at most
        entry = 132 + 12 * index
        tag = int.from_bytes(profile[entry + 4 : entry + 8], "big")
        if profile[tag : tag + 4] != b"mpet":
            continue
        elements = int.from_bytes(profile[tag + 12 : tag + 16], "big")
        if elements > MAX_ICC_ELEMENTS:
            raise _refuse("processing elements in an ICC transform", MAX_ICC_ELEMENTS, "MAX_ICC_ELEMENTS")
        segments = 0
        for number in range(elements):
            element = tag + int.from_bytes(profile[tag + 16 + 8 * number : tag + 20 + 8 * number], "big")
            if profile[element : element + 4] != b"cvst":
                continue
            for channel in range(min(int.from_bytes(profile[element + 8 : element + 10], "big"), 16)):
                at = element + 12 + 8 * channel
                curve = element + int.from_bytes(profile[at : at + 4], "big")
                if profile[curve : curve + 4] == b"curf":
                    segments += int.from_bytes(profile[curve + 8 : curve + 10], "big")
        if segments > MAX_ICC_CURVE_SEGMENTS:
            raise _refuse("curve segments in an ICC transform", MAX_ICC_CURVE_SEGMENTS, "MAX_ICC_CURVE_SEGMENTS")
