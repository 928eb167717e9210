"""Small images made by the tests themselves."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image


def jpeg(width: int = 800, height: int = 600, color: str = "#3366cc", orientation: int | None = None, **save) -> bytes:
    """A JPEG with a gradient (so that resizing is real work), optionally with an EXIF orientation."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image.paste(Image.new("RGB", (width // 2, height // 2), color), (0, 0))
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        save["exif"] = exif
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


def png(width: int = 640, height: int = 480, mode: str = "RGBA") -> bytes:
    image = Image.new(mode, (width, height), (200, 30, 30, 128) if mode == "RGBA" else "red")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def tracked(name: str, data: bytes) -> Any:
    """A saved SourceImage of ``data``, uploaded as ``name`` (its size and hash read from the bytes)."""
    from django.core.files.base import ContentFile

    from imagevariants.models import SourceImage

    source = SourceImage()
    source.file.save(name, ContentFile(data))
    return source
