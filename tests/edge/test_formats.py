"""The table of formats is the one source of every format fact: what it says is what the pipeline writes."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from imagevariants.edge import formats
from imagevariants.edge.formats import FORMATS, OUTPUT_FORMATS, PICTURE_FORMATS, kept_format
from imagevariants.edge.limits import Limits
from imagevariants.edge.pipeline import Rendered, render
from imagevariants.edge.spec import Spec


def _source(mode: str) -> bytes:
    image = Image.new(mode, (40, 30), (10, 120, 200, 0) if mode == "RGBA" else (10, 120, 200))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("name", OUTPUT_FORMATS)
def test_each_format_is_written_as_the_table_says(name: str) -> None:
    output = FORMATS[name]
    rendered = render(_source("RGBA"), Spec(20, format=name), Limits())
    written = Image.open(io.BytesIO(rendered.data))
    assert written.format == output.pillow
    assert rendered.content_type == output.mime == Image.MIME[output.pillow]
    assert written.size == (20, 15)
    transparent = written.convert("RGBA").getpixel((0, 0))[3] == 0
    assert transparent is output.alpha  # JPEG flattens onto the background; the others keep the alpha


def test_extensions_and_content_types_are_distinct() -> None:
    assert len({fmt.extension for fmt in FORMATS.values()}) == len(FORMATS)
    assert len({fmt.mime for fmt in FORMATS.values()}) == len(FORMATS)
    assert [fmt.name for fmt in FORMATS.values()] == list(OUTPUT_FORMATS)


def test_picture_alternates_come_best_first() -> None:
    assert PICTURE_FORMATS == ("avif", "webp")


@pytest.mark.parametrize(
    ("pillow", "alpha", "kept"),
    [
        ("JPEG", False, "jpeg"),
        ("MPO", False, "jpeg"),
        ("PNG", True, "png"),
        ("GIF", True, "gif"),
        ("WEBP", False, "webp"),
        ("AVIF", True, "avif"),
        ("TIFF", False, "jpeg"),
        ("TIFF", True, "png"),
        ("BMP", False, "jpeg"),
    ],
)
def test_a_kept_format(pillow: str, alpha: bool, kept: str) -> None:
    assert kept_format(pillow, alpha) == kept


def test_the_quality_reaches_only_encoders_that_take_it() -> None:
    data = _source("RGB")
    for name in OUTPUT_FORMATS:
        low, high = (render(data, Spec(40, quality=q, format=name), Limits()) for q in (5, 95))
        assert isinstance(low, Rendered)
        assert (low.data != high.data) is FORMATS[name].quality, name


def test_reading_the_table_loads_no_pillow() -> None:
    code = (
        "import sys, imagevariants.edge.formats, imagevariants.edge.presets\n"
        "print(any(m.startswith('PIL') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    assert formats.encodable("jpeg") is True
