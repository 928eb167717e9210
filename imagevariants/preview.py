"""The admin's live preview: an unsaved preset applied, by the edge's own pipeline, to a source image."""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

from . import conf
from .edge.formats import FORMATS
from .edge.pipeline import probe, render
from .models import SourceImage, VariantPreset
from .variants import original_url


@dataclass(frozen=True)
class Preview:
    """The original and the variant, each as a data: URL with its size and bytes."""

    original: dict[str, object]
    variant: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {"original": self.original, "variant": self.variant}


@functools.cache
def sample_image() -> bytes:
    """A 1200x800 JPEG drawn here, used when no source image exists yet."""
    image = Image.linear_gradient("L").resize((1200, 800)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate(("#d1495b", "#edae49", "#00798c", "#30638e")):
        draw.ellipse((120 + 250 * i, 250, 370 + 250 * i, 500), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _data_url(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def source_bytes(source: SourceImage | None) -> bytes:
    if source is None:
        return sample_image()
    with source.file.open("rb") as file:
        return file.read(conf.settings().limits.max_source_bytes + 1)


def make_preview(preset: VariantPreset, source: SourceImage | None) -> Preview:
    """Apply ``preset``'s primary output to ``source`` (or the sample). Raises EdgeError for a bad source."""
    data = source_bytes(source)
    limits = conf.settings().limits
    rendered = render(data, preset.specs()[0], limits)
    if source is None:
        info = probe(data, limits)
        original = {
            "url": _data_url(data, FORMATS[info.format].mime),
            "width": info.width,
            "height": info.height,
            "bytes": len(data),
            "format": info.format,
        }
    else:
        original = {
            "url": original_url(source),
            "width": source.width,
            "height": source.height,
            "bytes": source.bytes,
            "format": source.format,
        }
    variant = {
        "url": _data_url(rendered.data, rendered.content_type),
        "width": rendered.width,
        "height": rendered.height,
        "bytes": len(rendered.data),
        "format": rendered.format,
    }
    return Preview(original, variant)
