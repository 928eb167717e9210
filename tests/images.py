"""Small images made by the tests themselves (no files from elsewhere), and saved sources of them.

Importing this module needs no Django (the edge tests use it, and the edge has none): only ``tracked`` imports
Django, when it is called.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any

from PIL import Image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(width: int = 800, height: int = 600, color: str = "#3366cc", orientation: int | None = None, **save) -> bytes:
    """A JPEG with a gradient (so that resizing is real work) and a coloured top-left quarter, optionally with an
    EXIF orientation."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste(Image.new("RGB", (width // 2, height // 2), color), (0, 0))
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    return encode(image, "JPEG", quality=90, **save)


def png(width: int = 640, height: int = 480, mode: str = "RGBA") -> bytes:
    """Red at half opacity (RGBA), or plain red."""
    return encode(Image.new(mode, (width, height), (200, 30, 30, 128) if mode == "RGBA" else "red"), "PNG")


def solid(fmt: str, size: tuple[int, int] = (24, 16), color: str = "#3366cc") -> bytes:
    """One colour in ``fmt`` (any format Pillow writes), with Pillow's default options."""
    return encode(Image.new("RGB", size, color), fmt)


def noise_png(width: int, height: int) -> bytes:
    """Random pixels: PNG cannot compress them, so a variant's size is known in advance (3 bytes a pixel)."""
    return encode(Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)), "PNG")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims enormous dimensions (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def cmyk_profile(lab_of: Callable[[int, int, int, int], tuple[float, float, float]]) -> bytes:
    """A minimal ICC v2 CMYK output profile (A2B0 as a 2-point lut16 to Lab).

    ``lab_of(c, m, y, k)`` gives the Lab colour of each corner of the ink cube (inks 0 or 1), so a test can make
    a profile whose colours differ from any profile-less CMYK conversion.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def lab16(lightness: float, a: float, b: float) -> bytes:  # ICC v2 16-bit Lab encoding
        return struct.pack(">HHH", round(lightness / 100 * 0xFF00), round((a + 128) * 256), round((b + 128) * 256))

    corners = (0, 1)
    grid = b"".join(lab16(*lab_of(c, m, y, k)) for c in corners for m in corners for y in corners for k in corners)
    identity = b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">HH", 0, 0xFFFF)
    lut = b"mft2" + bytes(4) + bytes([4, 3, 2, 0]) + identity + struct.pack(">HH", 2, 2) + ramp * 4 + grid + ramp * 3
    description = b"edge test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(description)) + description + bytes(8 + 2 + 1 + 67)
    white = b"XYZ " + bytes(4) + s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", white), (b"A2B0", lut), (b"cprt", b"text" + bytes(4) + b"no rights\0")]
    return icc(bytes([2, 0x10, 0, 0]), b"prtr", b"CMYK", b"Lab ", tags)


def icc(version: bytes, device_class: bytes, colour_space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC profile: its 128-byte header (D50 illuminant) and ``tags``, (signature, data), each 4-byte aligned."""
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        body += bytes(-(offset + len(body)) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    d50 = b"".join(struct.pack(">i", round(value * 65536)) for value in (0.9642, 1.0, 0.8249))
    header = (
        struct.pack(">I", offset + len(body)) + b"lcms" + version + device_class + colour_space + pcs
        + bytes(12) + b"acsp" + bytes(4 + 4 + 8 + 8 + 4) + d50 + bytes(4 + 16 + 28)
    )  # fmt: skip
    return header + struct.pack(">I", len(tags)) + table + body


def animated_gif(count: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A GIF of ``count`` frames, each a different colour (so no frame is merged into the previous one)."""
    frames = [Image.new("RGB", size, (index * 37 % 256, index * 91 % 256, 120)) for index in range(count)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def tracked(name: str, data: bytes, **fields: Any) -> Any:
    """A saved SourceImage of ``data``, uploaded as ``name`` (its size and hash read from the bytes).

    ``fields`` are the row's other fields (its ``alt``, say)."""
    from django.core.files.base import ContentFile

    from imagevariants.models import SourceImage

    source = SourceImage(**fields)
    source.file.save(name, ContentFile(data))
    return source
