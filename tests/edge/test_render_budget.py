"""Every render is estimated before any pixel is decoded: too long or too large is a 413, too late a 503.

The sources here are headers that claim their size (the pipeline must refuse them from the header alone: a
decode would fail on the missing pixels, a 415, which is how a test knows the refusal came first).
"""

from __future__ import annotations

import pytest

from imagevariants.edge import cost
from imagevariants.edge.errors import OutOfTime, SourceTooLarge
from imagevariants.edge.handler import respond
from imagevariants.edge.limits import Deadline, Limits
from imagevariants.edge.memory import MIB, available_bytes
from imagevariants.edge.pipeline import render
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from tests import images
from tests.edge.conftest import MemoryStore
from tests.edge.events import miss

LIMITS = Limits()


def test_a_render_that_would_outlast_the_trigger_is_refused_before_decoding():
    """A 48 MP source made into a full-size PNG: about 34 s of encoding on one core, over the 20 s a render may
    take (the trigger's 30 s less S3 and margins)."""
    with pytest.raises(SourceTooLarge, match=r"would take about \d+ s, over the 20 s"):
        render(images.png_header(8000, 6000), Spec(8192, format="png"), LIMITS)


def test_a_render_that_would_not_fit_in_memory_is_refused_before_decoding():
    limits = Limits(memory_mb=256)
    with pytest.raises(SourceTooLarge, match=r"would need about \d+ MiB, over the \d+ MiB .*memory_mb=256"):
        render(images.png_header(4000, 3000), Spec(4000, format="avif"), limits)
    assert available_bytes(limits) < 256 * MIB  # the runtime's own share is kept


def test_the_same_render_within_the_function_s_memory_goes_on_to_decode():
    """The estimate is not what refused it above: with the default memory it reaches the decoder, which finds the
    pixels missing (415)."""
    with pytest.raises(Exception) as caught:
        render(images.png_header(4000, 3000), Spec(4000, format="avif"), LIMITS)
    assert not isinstance(caught.value, SourceTooLarge)


def test_a_render_that_cannot_finish_before_the_deadline_is_not_started():
    """2.5 s of estimated work with 1 s left: a 503 (OutOfTime) before decoding; the same with time to spare runs."""
    data = images.png_header(4000, 3000)
    spec = Spec(2000, format="webp")
    seconds = cost.estimate_seconds(cost.Work("PNG", 12_000_000, 12_000_000, 3_000_000, "webp"))
    assert 1.0 < seconds < cost.MAX_RENDER_SECONDS
    with pytest.raises(OutOfTime, match="rendering"):
        render(data, spec, LIMITS, deadline=Deadline(1.0))


def test_the_handler_answers_413_and_writes_nothing():
    document = Document.build({"full": [Spec(8192, format="png")]})
    store = MemoryStore({"images/huge.png": images.png_header(8000, 6000)})
    key = document.outputs("full")[0].key("images/huge.png", document.prefix)
    response = respond(miss("/" + key), store, document)
    assert response["status"] == "413" and store.written == {}
    assert "would take about" in response["body"]


@pytest.mark.parametrize(
    "work, bounds",
    [
        # A 24 MP JPEG to a 1280 px WebP, decoded at 1/4: well under a second.
        (cost.Work("JPEG", 24_000_000, 1_500_000, 1_000_000, "webp"), (0.05, 1.0)),
        # 64 scans of a 49 MP JPEG (4.7 s measured) dominate whatever the decode scale, and still fit.
        (cost.Work("JPEG", 49_000_000, 770_000, 100_000, "jpeg", scans=64), (5.0, 20.0)),
        # 1000 one-pixel GIF frames: their overhead, not their pixels.
        (cost.Work("GIF", 1, 1, 1, "gif", frames=1000), (1.0, 5.0)),
    ],
    ids=["photo", "scans", "frames"],
)
def test_the_estimate_follows_what_costs(work, bounds):
    low, high = bounds
    assert low < cost.estimate_seconds(work) < high


def test_kept_decodes_give_way_to_a_render_that_needs_the_room():
    """A warm container's decode cache holds memory too: a render that fits only without it empties it first."""
    from imagevariants.edge import memory, pipeline

    data = images.jpeg(2000, 1500)
    render(data, Spec(2000, format="png"), LIMITS)  # full size: its decode is kept
    held = pipeline.decode_cache.nbytes
    assert held >= 2000 * 1500 * 4
    peak = memory.estimate_peak_bytes(
        source_format="JPEG",
        source_mode="RGB",
        source_pixels=3_000_000,
        decoded_pixels=3_000_000,
        output_pixels=3_000_000,
        fmt="webp",
        source_bytes=len(data),
    )
    hits, misses = pipeline.decode_cache.hits, pipeline.decode_cache.misses
    render(data, Spec(2000, format="jpeg"), LIMITS)  # room for both: the kept decode is used
    assert (pipeline.decode_cache.hits, pipeline.decode_cache.misses) == (hits + 1, misses)
    tight = Limits(memory_mb=(peak + memory.RUNTIME_BASELINE_BYTES + held // 2) // MIB + 1)  # room for this only
    render(data, Spec(2000, format="webp"), tight)
    assert pipeline.decode_cache.misses == misses + 1  # emptied first, then decoded again


def test_a_render_waits_its_turn_when_it_does_not_fit_beside_the_renders_under_way(capsys):
    """Two renders in one process (the local edge): the second starts only if both estimates fit together,
    otherwise it is a 503 Busy with Retry-After and nothing written; alone, it renders."""
    from imagevariants.edge import memory

    document = Document.build({"md": [Spec(1600, format="webp")]}, limits=Limits(memory_mb=512))
    store = MemoryStore({"images/a.jpg": images.jpeg(1600, 1200)})
    key = "/" + document.outputs("md")[0].key("images/a.jpg", document.prefix)
    under_way = memory.available_bytes(document.limits) - 10 * MIB  # another render holds nearly everything
    with memory.reservations.hold(under_way, document.limits):
        busy = respond(miss(key), store, document)
    assert busy["status"] == "503" and store.written == {}
    assert [h["value"] for h in busy["headers"]["retry-after"]] == ["5"]
    assert memory.reservations.held == 0
    assert respond(miss(key), store, document)["status"] == "200"


def _png_with_late_exif(orientation: int) -> bytes:
    """A 60x40 PNG whose eXIf chunk (orientation) follows the image data, as some tools write it."""
    from PIL import Image

    from tests.edge.hostile import png_chunk

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = images.encode(Image.new("RGB", (60, 40), "red"), "PNG")
    end = data.rindex(b"IEND") - 4
    return data[:end] + png_chunk(b"eXIf", exif.tobytes()) + data[end:]


def test_a_png_s_orientation_is_read_without_decoding_it(monkeypatch):
    """Pillow decodes a whole PNG to find an eXIf chunk after its data; the walk of its bytes finds it instead, so
    nothing is decoded before the estimate (nor at all by probe), and the orientation is still applied."""
    from PIL import PngImagePlugin

    from imagevariants.edge.pipeline import probe

    data = _png_with_late_exif(6)
    loads = []
    original = PngImagePlugin.PngImageFile.load
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: loads.append(1) or original(self))
    assert (probe(data, LIMITS).width, probe(data, LIMITS).height) == (40, 60)  # turned upright
    assert loads == []
    made = render(data, Spec(20, format="png"), LIMITS)
    assert (made.width, made.height) == (20, 30) and images.decode(made.data).size == (20, 30)
