"""Files whose cost is not their pixel count are refused before decoding (413), and legitimate ones at a limit pass.

Every hostile file here is small and within the byte and pixel limits: only the screen refuses it. Costs are in
benchmarks/hostile.py; these tests assert counts and statuses only.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable

import pytest
from PIL import Image

from imagevariants.edge import screen
from imagevariants.edge.errors import SourceTooLarge
from imagevariants.edge.handler import respond
from imagevariants.edge.keys import url_path
from imagevariants.edge.limits import Limits
from imagevariants.edge.pipeline import probe, render
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from tests import images
from tests.edge import hostile
from tests.edge.conftest import MemoryStore
from tests.edge.events import miss

LIMITS = Limits(max_frames=300)  # under the default of 1000, so that the files stay small and fast
FRAMES, SCANS = LIMITS.max_frames, LIMITS.max_jpeg_scans


@pytest.fixture
def document() -> Document:
    return Document.build({"sm": [Spec(100), Spec(100, format="webp")]}, limits=LIMITS)


#: name: (a file just over one limit, words of the refusal naming that limit)
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "jpeg-scans": (lambda: hostile.repeated_scans_jpeg(SCANS + 1), "max_jpeg_scans=64"),
    "jpeg-segments": (lambda: hostile.comment_segments_jpeg(screen.MAX_JPEG_SEGMENTS), "MAX_JPEG_SEGMENTS"),
    "gif-frames": (lambda: hostile.gif_frames(FRAMES + 1), "max_frames=300"),
    "gif-sub-blocks": (lambda: hostile.gif_sub_blocks(5_000), "GIF_BYTES_PER_BLOCK"),
    "gif-stray-bytes": (lambda: hostile.gif_stray_bytes(6_000), "GIF_BYTES_PER_BLOCK"),
    "png-idat-chunks": (lambda: hostile.png_idat_chunks(screen.MAX_PNG_CHUNKS), "MAX_PNG_CHUNKS"),
    "png-text-chunks": (lambda: hostile.png_text_chunks(screen.MAX_PNG_CHUNKS, b"iTXt"), "MAX_PNG_CHUNKS"),
    "apng-frames": (lambda: hostile.apng_frames(FRAMES + 1), "max_frames=300"),
    "apng-declared-frames": (lambda: hostile.apng_frames(2, declared=FRAMES + 1), "max_frames=300"),
    "webp-frames": (lambda: hostile.webp_frames(FRAMES + 1), "max_frames=300"),
    "webp-frames-after-chunks": (lambda: hostile.webp_frames(FRAMES + 1, other_chunks=2_000), "max_frames=300"),
    "avif-frames": (lambda: _avif(FRAMES + 1), "max_frames=300"),
    "tiff-pages": (lambda: hostile.tiff_pages(FRAMES + 1), "max_frames=300"),
    "tiff-entries": (lambda: hostile.tiff_entries(screen.MAX_TIFF_ENTRIES + 1), "MAX_TIFF_ENTRIES"),
    "tiff-exif-entries": (lambda: hostile.tiff_exif_entries(screen.MAX_TIFF_ENTRIES + 1), "MAX_TIFF_ENTRIES"),
    "tiff-strips": (lambda: hostile.tiff_strips_on_second_page(screen.MAX_TIFF_STRIPS + 1), "MAX_TIFF_STRIPS"),
    "tiff-wrapping-strips": (
        lambda: hostile.tiff_strips(3, width=2, height=2),
        "3 TIFF strips (or tiles) for a page whose size needs 2",
    ),
    "tiff-wrapping-tiles": (lambda: hostile.tiff_tiles(5), "5 TIFF strips (or tiles) for a page whose size needs 4"),
    "bmp-rle-escapes": (lambda: hostile.bmp_rle_escapes(3_000), "more than its 1x1 pixels need"),
    "bmp-rle-pixels": (lambda: hostile.bmp_rle_runs(2049, 2048), "MAX_BMP_RLE_PIXELS"),
    "bmp-rle4-pixels": (lambda: hostile.bmp_rle_runs(2049, 2048, rle4=True), "MAX_BMP_RLE_PIXELS"),
    "icc-elements": (
        lambda: hostile.jpeg_with_icc(hostile.icc_elements(screen.MAX_ICC_ELEMENTS + 1)),
        "MAX_ICC_ELEMENTS",
    ),
    "icc-segments": (
        lambda: hostile.jpeg_with_icc(hostile.icc_segments(screen.MAX_ICC_CURVE_SEGMENTS + 3)),
        "MAX_ICC_CURVE_SEGMENTS",
    ),
    "icc-bytes": (lambda: hostile.jpeg_with_icc(hostile.icc_large_lut(112)), "MAX_ICC_BYTES"),
}

#: name: a legitimate file right at the limit (or as near as its structure allows), which must render
AT_LIMIT: dict[str, Callable[[], bytes]] = {
    "jpeg-64-scans": lambda: hostile.repeated_scans_jpeg(SCANS),
    "jpeg-segments": lambda: hostile.comment_segments_jpeg(screen.MAX_JPEG_SEGMENTS - _own_segments()),
    "jpeg-restart-markers": lambda: images.encode(Image.new("RGB", (1200, 1200)), "JPEG", restart_marker_blocks=1),
    "mpo": lambda: images.encode(
        Image.new("RGB", (64, 48)), "MPO", save_all=True, append_images=[Image.new("L", (8, 8))]
    ),
    "gif-300-frames": lambda: hostile.gif_frames(FRAMES),
    "gif-sub-blocks": lambda: hostile.gif_sub_blocks(4_000),
    "png-chunks": lambda: hostile.png_idat_chunks(screen.MAX_PNG_CHUNKS - 2),  # with IHDR and IEND
    "apng-300-frames": lambda: hostile.apng_frames(FRAMES),
    "webp-300-frames": lambda: hostile.webp_frames(FRAMES),
    "avif-300-frames": lambda: _avif(FRAMES),
    "tiff-300-pages": lambda: hostile.tiff_pages(FRAMES),
    "tiff-entries": lambda: hostile.tiff_entries(screen.MAX_TIFF_ENTRIES - 9),  # the first page has 9
    "tiff-strips": lambda: hostile.tiff_strips_on_second_page(screen.MAX_TIFF_STRIPS),
    "tiff-compressed-strips": lambda: hostile.tiff_packbits_strips(5, 65_000),  # libtiff's: not counted
    "tiff-one-row-strips": lambda: hostile.tiff_strips(64, width=8, height=64),
    "tiff-tiles": lambda: hostile.tiff_tiles(4),
    "bmp-rle-pixels": lambda: hostile.bmp_rle_runs(2048, 2048),
    "bmp-rle4": lambda: hostile.bmp_rle_runs(600, 400, rle4=True),
    "icc-elements": lambda: hostile.jpeg_with_icc(hostile.icc_elements(screen.MAX_ICC_ELEMENTS)),
    "icc-segments": lambda: hostile.jpeg_with_icc(hostile.icc_segments(screen.MAX_ICC_CURVE_SEGMENTS)),
}


def _own_segments() -> int:
    """The marker segments of the JPEG the comments are added to (SOI aside)."""
    return len(hostile.jpeg_segments(hostile.comment_segments_jpeg(0))) - 1


@functools.cache
def _avif(frames: int) -> bytes:
    return hostile.avif_frames(frames)


@functools.cache
def _built(name: str) -> bytes:
    return HOSTILE[name][0]()


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_refused_before_decoding(name):
    data, limit = _built(name), HOSTILE[name][1]
    assert len(data) < LIMITS.max_source_bytes
    image = Image.open(io.BytesIO(data))
    assert image.width * image.height <= LIMITS.max_source_pixels  # the byte and pixel checks let it through
    for spec in (Spec(100), Spec(100, format="gif")):  # a still variant, and one that keeps an animation
        with pytest.raises(SourceTooLarge, match=re.escape(limit)):
            render(data, spec, LIMITS)
    with pytest.raises(SourceTooLarge, match=re.escape(limit)):
        probe(data, LIMITS)


@pytest.mark.parametrize("name", HOSTILE)
def test_lambda_answers_413_and_writes_nothing(document, name):
    source = f"images/hostile-{name}"
    store = MemoryStore({source: _built(name)})
    path = "/" + url_path(document.outputs("sm")[0].key(source, document.prefix))
    response = respond(miss(path), store, document)
    assert response["status"] == "413", response
    assert response["body"].startswith("Payload Too Large: source ")
    assert store.written == {} and store.reads == [source]


@pytest.mark.parametrize("name", AT_LIMIT)
def test_legitimate_file_at_the_limit_renders(name):
    data = AT_LIMIT[name]()
    assert probe(data, LIMITS).width > 0
    assert render(data, Spec(100), LIMITS).data


@pytest.mark.parametrize("frames", [FRAMES, FRAMES + 1])
def test_frames_are_counted_exactly(frames):
    refused = frames > FRAMES
    for data in (hostile.gif_frames(frames), hostile.apng_frames(frames), hostile.webp_frames(frames)):
        assert Image.open(io.BytesIO(data)).n_frames == frames  # the file has exactly that many
        try:
            probe(data, LIMITS)
        except SourceTooLarge:
            assert refused
        else:
            assert not refused


def test_a_document_with_higher_limits_lets_more_through():
    limits = Limits(max_frames=400, max_jpeg_scans=100)
    assert render(hostile.gif_frames(400), Spec(100, format="gif"), limits).format == "gif"
    assert render(hostile.repeated_scans_jpeg(100), Spec(100), limits).format == "jpeg"
    with pytest.raises(SourceTooLarge, match="max_frames=400"):
        probe(hostile.gif_frames(401), limits)


@pytest.mark.parametrize(
    "data",
    [
        hostile.gif_frames(3),
        hostile.apng_frames(3),
        hostile.webp_frames(3),
        hostile.tiff_pages(3),
        hostile.repeated_scans_jpeg(12),
        hostile.jpeg_with_icc(hostile.icc_elements(4)),
        hostile.bmp_rle_runs(300, 2),
    ],
    ids=["gif", "apng", "webp", "tiff", "jpeg", "icc", "bmp"],
)
def test_a_file_cut_short_is_left_to_the_decoder(data):
    image = Image.open(io.BytesIO(data))
    for end in range(len(data)):
        screen.screen_bytes(data[:end], LIMITS)  # no walk error escapes: the decoder says what is wrong
        screen.screen_image(image, data[:end], LIMITS)


def test_a_profile_cut_short_is_left_to_littlecms():
    profile = hostile.icc_elements(6)
    image = Image.new("RGB", (4, 4))
    for end in range(len(profile)):
        image.info["icc_profile"] = profile[:end]
        screen.screen_image(image, b"", LIMITS)


@pytest.mark.parametrize(
    "data",
    [
        hostile.comment_segments_jpeg(screen.MAX_JPEG_SEGMENTS + 1, False),
        hostile.png_text_chunks(screen.MAX_PNG_CHUNKS + 1, before_image_data=True),
        hostile.gif_sub_blocks(screen.GIF_BLOCKS_BASE * 2, before_first_frame=True),
    ],
    ids=["jpeg-segments-before-the-scan", "png-chunks-before-the-data", "gif-blocks-before-the-frame"],
)
def test_structure_paid_inside_image_open_is_refused_before_it(data, monkeypatch):
    """Pillow reads every header segment, chunk or block before the first pixels while it opens a file: the walk
    runs first, so such a file never reaches Image.open."""
    opened = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args))
    with pytest.raises(SourceTooLarge):
        probe(data, LIMITS)
    assert opened == []


def test_the_walk_counts_frames_and_scans_for_the_cost_estimate():
    assert screen.screen_bytes(hostile.gif_frames(7), LIMITS) == screen.Structure(frames=7)
    assert screen.screen_bytes(hostile.apng_frames(5), LIMITS).frames == 5
    assert screen.screen_bytes(hostile.webp_frames(4), LIMITS).frames == 4
    assert screen.screen_bytes(hostile.tiff_pages(3), LIMITS).frames == 3
    assert screen.screen_bytes(hostile.repeated_scans_jpeg(12), LIMITS) == screen.Structure(scans=12)
    assert screen.screen_bytes(b"BM" + bytes(60), LIMITS) == screen.Structure()


EXIF_BOMB = hostile.exif_rationals(screen.MAX_TAG_VALUES + 1)  # 512 KB: one tag of 65,537 rationals


@pytest.mark.parametrize(
    "data",
    [
        hostile.png_with_exif(EXIF_BOMB),
        hostile.webp_with_exif(EXIF_BOMB),
        hostile.png_with_exif(hostile.exif_rationals(screen.MAX_TAG_VALUES_TOTAL + 1, tag=0x0111)),  # strip offsets
        hostile.tiff_rational_tag(screen.MAX_TAG_VALUES + 1),
    ],
    ids=["png-exif", "webp-exif", "png-exif-strip-offsets", "tiff-tag"],
)
def test_a_tag_of_too_many_values_is_refused_before_anything_reads_it(data, monkeypatch):
    """Pillow turns every value of a tag into a Python object whenever it reads the tags (to find the
    orientation, or a TIFF's resolution while opening it): 5 million rationals took 16 s and 1.7 GB."""
    read = []
    monkeypatch.setattr(Image.Exif, "load", lambda *args: read.append(args))
    with pytest.raises(SourceTooLarge, match="tag"):
        probe(data, LIMITS)
    with pytest.raises(SourceTooLarge, match="tag"):
        render(data, Spec(8), LIMITS)
    assert read == []


@pytest.mark.filterwarnings("ignore:Metadata Warning")  # Pillow's own note on an orientation of 65,536 values
def test_tags_within_the_limits_are_read_as_before():
    """A JPEG segment holds at most 8,000 rationals: such a tag passes, and the orientation is still read."""
    assert probe(hostile.jpeg_with_exif(hostile.exif_rationals(8000, tag=0x011A)), LIMITS).width == 16
    assert probe(hostile.png_with_exif(hostile.exif_rationals(screen.MAX_TAG_VALUES)), LIMITS).width == 16


def test_the_largest_page_of_a_tiff_is_what_an_animation_costs():
    """Page one is 1x1, page two 3000x3000: made into a GIF, every page is decoded whole, so the estimate takes
    the largest (at 160 MB that does not fit), not the first (which would)."""
    data = hostile.tiff_small_page_then(3000, 3000)
    assert screen.screen_bytes(data, LIMITS).largest_frame == 9_000_000
    with pytest.raises(SourceTooLarge, match="would need about"):
        render(data, Spec(3000, format="gif"), Limits(memory_mb=160))
    assert render(data, Spec(100), Limits(memory_mb=160)).width == 1  # a still variant decodes page one only
