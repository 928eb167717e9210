"""An AVIF's AV1 frames are read from the bitstream itself (imagevariants.edge.avif), not from its container.

Pillow takes an AVIF's size from the ``ispe`` property (or an animation's track header), but the decoder decodes
the AV1 frames whatever size their own headers give: a small file can declare 100x100 and decode 2000x2000. The
real files here are written by Pillow (flat colours, speed 10); the others are built here, box by box, from the
AV1 data Pillow writes, or from a few short AV1 streams aomenc wrote. Work is counted in lines run, not seconds.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import sys

import pytest
from PIL import Image

from imagevariants.edge import avif
from tests.images import encode

LIMIT = 50_000_000  # the default max_source_pixels
#: The most lines of the parser one file may run: the files of too much structure below run 45,000 to 110,000 (a
#: still image 640, an animation 2,300), about 27 a step at most.
MOST_LINES = 150_000


# -- Files Pillow writes ---------------------------------------------------------------------------------------


@functools.cache
def still(width: int, height: int, mode: str = "RGB", subsampling: str = "4:2:0") -> bytes:
    colour = {"L": 90, "LA": (90, 200), "RGB": (120, 60, 30), "RGBA": (120, 60, 30, 100)}[mode]
    image = Image.new(mode, (width, height), colour)
    return encode(image, "AVIF", speed=10, quality=50, subsampling=subsampling)


@functools.cache
def animation(width: int, height: int, frames: int = 3, mode: str = "RGB") -> bytes:
    images = [Image.new(mode, (width, height), (40 * i, 60, 30, 100)[: len(mode)]) for i in range(frames)]
    return encode(images[0], "AVIF", save_all=True, append_images=images[1:], speed=10, quality=50, duration=40)


def item_data(size: tuple[int, int]) -> bytes:
    """The AV1 data of a still's one item (Pillow writes it as the whole of the last box, mdat)."""
    data = still(*size)
    at = data.rindex(b"mdat")
    assert int.from_bytes(data[at - 4 : at], "big") == len(data) - at + 4
    return data[at + 4 :]


def declared(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def decoded(data: bytes) -> tuple[int, int]:
    """The size Pillow decodes: the file is one libavif reads (its items are where iloc says)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.size


def set_declared(data: bytes, width: int, height: int) -> bytes:
    """Rewrite every ispe property, and every track header's size, to width x height."""
    out = bytearray(data)
    at = 0
    while (at := out.find(b"ispe", at + 1)) > 0:
        struct.pack_into(">II", out, at + 8, width, height)
    at = 0
    while (at := out.find(b"tkhd", at + 1)) > 0:  # width and height are the last fields (16.16 fixed point)
        end = at - 4 + int.from_bytes(out[at - 4 : at], "big")
        struct.pack_into(">II", out, end - 8, width << 16, height << 16)
    return bytes(out)


# -- Boxes and AV1 headers built here ---------------------------------------------------------------------------


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, *parts: bytes, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big"), *parts)


FTYP = box(b"ftyp", b"avif", bytes(4), b"avifmif1miaf")


def build(
    tiles: list[bytes],
    size: tuple[int, int],
    grid: tuple[int, int, int, int] | None = None,
    in_idat: bool = False,
    split: bool = False,
    method: int | None = None,
) -> bytes:
    """An AVIF of the AV1 items ``tiles`` (each ``size``, 4:2:0, 8 bits): one image, or a grid of them (rows,
    columns, output width and height). ``in_idat`` stores them in the meta box (iloc construction method 1),
    ``split`` stores each in two extents, the second half first; ``method`` overrides the construction method."""
    first = 2 if grid else 1
    ids = list(range(first, first + len(tiles)))
    parts: list[bytes] = []  # the tiles' data, in the order it is stored
    pieces: dict[int, list[int]] = {}  # each item's parts, in order
    for item, tile in zip(ids, tiles, strict=True):
        half = len(tile) // 2 if split else 0
        parts += [tile[half:], tile[:half]] if split else [tile]
        pieces[item] = [len(parts) - 1, len(parts) - 2] if split else [len(parts) - 1]
    starts = [sum(len(part) for part in parts[:index]) for index in range(len(parts))]
    descriptor = b""
    if grid:
        rows, columns, width, height = grid
        descriptor = bytes([0, 0, rows - 1, columns - 1]) + struct.pack(">HH", width, height)

    def meta(mdat_data_at: int) -> bytes:
        base = len(descriptor) if in_idat else mdat_data_at  # in idat after the grid's descriptor, or in mdat
        how = (1 if in_idat else 0) if method is None else method
        entries = [(1, 1, [(0, len(descriptor))])] if grid else []
        entries += [(item, how, [(base + starts[i], len(parts[i])) for i in pieces[item]]) for item in ids]
        iloc = full_box(
            b"iloc",
            1,
            b"\x44\x00",  # 4-byte offsets and lengths, no base offset
            struct.pack(">H", len(entries)),
            *(
                struct.pack(">HHHH", item, how, 0, len(spans)) + b"".join(struct.pack(">II", *span) for span in spans)
                for item, how, spans in entries
            ),
        )
        hidden = int(bool(grid))  # a grid's tiles are hidden items
        infos = [full_box(b"infe", 2, struct.pack(">HH", item, 0), b"av01\0", flags=hidden) for item in ids]
        associations = [struct.pack(">HB", item, 3) + bytes([1, 0x82, 3]) for item in ids]  # ispe, av1C, pixi
        references = b""
        if grid:
            infos.insert(0, full_box(b"infe", 2, struct.pack(">HH", 1, 0), b"grid\0"))
            associations.insert(0, struct.pack(">HB", 1, 2) + bytes([4, 3]))  # its own ispe, pixi
            tiles_of = box(b"dimg", struct.pack(">HH", 1, len(ids)), *(struct.pack(">H", item) for item in ids))
            references = full_box(b"iref", 0, tiles_of)
        properties = box(
            b"ipco",
            full_box(b"ispe", 0, struct.pack(">II", *size)),
            box(b"av1C", b"\x81\x00\x0c\x00"),
            full_box(b"pixi", 0, bytes([3, 8, 8, 8])),
            full_box(b"ispe", 0, struct.pack(">II", *grid[2:])) if grid else b"",
        )
        return full_box(
            b"meta",
            0,
            full_box(b"hdlr", 0, bytes(4), b"pict", bytes(13)),
            full_box(b"pitm", 0, struct.pack(">H", 1)),
            iloc,
            full_box(b"iinf", 0, struct.pack(">H", len(infos)), *infos),
            references,
            box(b"iprp", properties, full_box(b"ipma", 0, struct.pack(">I", len(associations)), *associations)),
            box(b"idat", descriptor, *(parts if in_idat else [])) if grid or in_idat else b"",
        )

    mdat_data_at = len(FTYP) + len(meta(0)) + 8
    return FTYP + meta(mdat_data_at) + box(b"mdat", *([] if in_idat else parts))


def track(sample: bytes, config_obus: bytes = b"", co64: bool = False, samples: int = 1) -> bytes:
    """An AVIF of one track whose av01 sample entry's av1C carries ``config_obus``, and whose first sample is
    ``sample`` (only the boxes the walk reads)."""

    def moov(at: int) -> bytes:
        entry = box(b"av01", bytes(6), struct.pack(">H", 1), bytes(70), box(b"av1C", b"\x81\x00\x0c\x00", config_obus))
        chunks = (
            full_box(b"co64", 0, struct.pack(">IQ", 1, at)) if co64 else full_box(b"stco", 0, struct.pack(">II", 1, at))
        )
        table = box(
            b"stbl",
            full_box(b"stsd", 0, struct.pack(">I", 1), entry),
            full_box(b"stsz", 0, struct.pack(">II", 0, samples), struct.pack(">I", len(sample)) if samples else b""),
            chunks,
        )
        return box(b"moov", box(b"trak", box(b"mdia", box(b"minf", table))))

    at = len(FTYP) + len(moov(0)) + 8
    return FTYP + moov(at) + box(b"mdat", sample)


class Bits:
    """An MSB-first bit writer for AV1 headers."""

    def __init__(self) -> None:
        self.value = self.size = 0

    def put(self, bits: int, value: int) -> Bits:
        self.value, self.size = (self.value << bits) | value, self.size + bits
        return self

    def bytes(self) -> bytes:
        pad = -self.size % 8
        return (self.value << pad).to_bytes((self.size + pad) // 8, "big")


def obu(kind: int, payload: bytes) -> bytes:
    """An OBU with a size field (a one-byte leb128: payloads under 128 bytes)."""
    assert len(payload) < 128
    return bytes([kind << 3 | 2, len(payload)]) + payload


def sequence_header(max_width: int, max_height: int, bits: int = 16, reduced: bool = False) -> bytes:
    """A sequence header OBU: a reduced still picture header, or a full one with one operating point and the
    choices a frame header then reads (no frame ids, no order hints, screen content tools chosen per frame)."""
    b = Bits().put(3, 0).put(1, int(reduced)).put(1, int(reduced))
    if reduced:
        b.put(5, 0)
    else:
        b.put(1, 0).put(1, 0).put(5, 0).put(12, 0).put(5, 0)  # no timing info, one operating point, level 2.0
    b.put(4, bits - 1).put(4, bits - 1).put(bits, max_width - 1).put(bits, max_height - 1)
    if not reduced:
        b.put(1, 0).put(3, 0).put(4, 0).put(1, 0)  # no frame ids; tools; no order hints
        b.put(1, 1).put(1, 1)  # seq_choose_screen_content_tools, seq_choose_integer_mv
    b.put(3, 0).put(8, 0)  # superres, cdef, restoration; a colour config (not read)
    return obu(1, b.bytes())


def key_frame(width: int | None, height: int | None, bits: int = 16) -> bytes:
    """A frame OBU of a shown key frame after a full sequence header: of the sequence's maximum size, or with
    frame_size_override_flag and its own width x height. Only the header is real."""
    b = Bits().put(1, 0).put(2, 0).put(1, 1).put(1, 0).put(1, 0)  # not shown again, KEY, shown, cdf, no sct
    if width is None or height is None:
        b.put(1, 0)
    else:
        b.put(1, 1).put(bits, width - 1).put(bits, height - 1)
    return obu(6, b.bytes() + bytes(8))


TEMPORAL_DELIMITER = obu(2, b"")


# -- Real files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "mode", "subsampling"),
    [
        (1, 1, "RGB", "4:2:0"),
        (17, 9, "RGB", "4:4:4"),
        (301, 203, "RGB", "4:2:0"),
        (640, 48, "RGB", "4:2:2"),
        (2000, 2000, "RGB", "4:4:4"),
        (99, 101, "L", "4:0:0"),
        (300, 200, "RGBA", "4:2:0"),
        (64, 640, "LA", "4:4:4"),
    ],
)
def test_pillow_stills_give_their_true_size(width, height, mode, subsampling):
    data = still(width, height, mode, subsampling)
    planes = 2 if mode in ("RGBA", "LA") else 1  # the alpha plane is an item of its own
    assert avif.av1_frame_sizes(data) == [(width, height)] * planes
    assert declared(data) == (width, height)
    assert avif.check_frame_sizes(data, (width, height), LIMIT) is None


@pytest.mark.parametrize(
    ("width", "height", "frames", "mode"), [(64, 48, 3, "RGB"), (33, 65, 5, "RGBA"), (600, 600, 2, "RGBA")]
)
def test_pillow_animations_give_their_true_size(width, height, frames, mode):
    data = animation(width, height, frames, mode)
    planes = 2 if mode == "RGBA" else 1
    found = avif.av1_frames(data)
    assert found.items == ((width, height),) * planes  # Pillow also stores the first frame as a still image
    assert found.tracks == ((width, height),) * planes
    assert avif.av1_frame_sizes(data) == [(width, height)] * planes * 2
    assert declared(data) == (width, height)
    assert avif.check_frame_sizes(data, (width, height), LIMIT) is None


def test_a_grid_gives_each_tile_and_pillow_decodes_it():
    tile = item_data((64, 64))
    for layout in ({}, {"in_idat": True}, {"split": True}, {"in_idat": True, "split": True}):
        data = build([tile] * 4, (64, 64), grid=(2, 2, 128, 128), **layout)
        assert decoded(data) == (128, 128)
        assert avif.av1_frame_sizes(data) == [(64, 64)] * 4
        assert avif.check_frame_sizes(data, (128, 128), LIMIT) is None


def test_a_grid_whose_tiles_overhang_its_edges_by_less_than_one_tile_passes():
    tile = item_data((64, 64))
    data = build([tile] * 4, (64, 64), grid=(2, 2, 100, 90))  # 128x128 of tiles for 100x90: 0.8 of a tile over
    assert decoded(data) == (100, 90)
    assert avif.check_frame_sizes(data, (100, 90), LIMIT) is None


#: aomenc --obu --cpu-used=9 --limit=1 --full-still-picture-hdr --forced_max_frame_width=1000
#: --forced_max_frame_height=900: a flat 320x240 key frame that gives its own size, under the maximum of 1000x900.
FORCED = "12000a0b10000004cfcfc19b5f2008321a12013f3bc80000004b17c838cafffeb17ec15cecdbb7dafb93dc"
#: aomenc --obu --cpu-used=9 and: hex of the stream, sizes aomdec decoded.
AOMENC = {
    # --limit=3 --timing-info=model --resize-mode=1 --resize-denominator=12: decoder model, frames of their own size
    "model": (
        "12000a1e040000000400000065780000000a530000035f915f90bc3cffbcdaf90040321710000080442800000400000000ebce1b68"
        "6af68074240e12003227300440f8080400000006a4fc04fc03be3475000004800040001f3ad105a6ab1627a869039e79881200321e"
        "300841780c082000063437000004000040000008f7a4ce1e13b325182ec0",
        {(320, 240), (213, 160)},
    ),
    # --limit=3 --error-resilient=1 --resize-mode=1 --resize-denominator=12: frame ids, error resilient frames
    "error-resilient": (
        "12000a0c000000043cffbf81b5f20080321612d2d0010a00000100000000ebce1b686af68074240e1200323839696e040800000000"
        "000000000000000000000000000000000001a93f013f00ef8a3a800002400000001f836fdeb1fb6f097966aea7f358120032363969"
        "72081000100000000000400000008000400020001000080005a93f013f00ef8a1b800002000000000008f7a4ce1e13b325182ec0",
        {(320, 240), (213, 160)},
    ),
    # --limit=3 --enable-order-hint=0 --error-resilient=1 --resize-mode=1 --resize-denominator=11: no order hints
    "no-order-hints": (
        "12000a0b000000043cffbf81b34010321512d2d08500000080000000ebce1b686af68074240e1200322c39696e0400000000000000"
        "0000000000000001d15d013f00ef8a3a800002400000001f836fdeb1f3335e437f1200322b39697208400000008000400020001000"
        "080005d15d013f00ef8a1e000002000000000008f19c59c73b4c80",
        {(233, 175), (320, 240)},
    ),
    # --limit=3 --resize-mode=1 --resize-denominator=12 --resize-kf-denominator=10: sizes taken from a reference
    "resize": (
        "12000a0b000000043cffbcdaf9004032181201ff7f013f00ef4280000040000000ebce1b686af68076120032243103c080000000d4"
        "9f809f8077c68ea00000900008001f3ad105a6ab1627a869039e79881200321b3105c1040000c686e00000800008000008f7a4ce1e"
        "13b325182ec0",
        {(256, 192), (213, 160)},
    ),
    # --limit=1 --full-still-picture-hdr --forced_max_frame_width=1000 --forced_max_frame_height=900
    "forced-maximum": (FORCED, {(320, 240)}),
}
#: The same, its sequence header's maximum rewritten to 100x100: dav1d still decodes the 320x240 frame.
FORCED_UNDER = "12000a0b10000004c8c6319b5f2008321a12013f3bc80000004b17c838cafffeb17ec15cecdbb7dafb93dc"


def test_aomenc_frames_are_read_as_its_own_decoder_sizes_them():
    """Short streams aomenc wrote (a flat 320x240 frame or three); the sizes are those aomdec decoded."""
    for stream, sizes in AOMENC.values():
        data = bytes.fromhex(stream)
        walk = avif._walk(avif._Data(data, [(0, len(data))]), avif._Budget())
        assert set(walk.frames) == sizes


def test_an_item_is_the_size_of_its_frames_not_of_its_sequence_maximum():
    data = build([bytes.fromhex(FORCED)], (320, 240))
    assert avif.av1_frame_sizes(data) == [(320, 240)]  # not the sequence header's 1000x900
    assert avif.check_frame_sizes(data, (320, 240), LIMIT) is None


# -- Files that lie about their size ------------------------------------------------------------------------------


def test_an_ispe_smaller_than_the_av1_frame_is_refused():
    data = set_declared(still(2000, 2000, subsampling="4:4:4"), 100, 100)
    assert len(data) < 2000 and declared(data) == (100, 100)  # what Pillow reports, and the limits would check
    assert avif.av1_frame_sizes(data) == [(2000, 2000)]
    reason = avif.check_frame_sizes(data, (100, 100), LIMIT)
    assert reason == "an AV1 frame of 2000x2000 is larger than the declared 100x100"


def test_a_frame_over_the_pixel_limit_is_refused_whatever_the_declared_size():
    data = still(2000, 2000)
    assert avif.check_frame_sizes(data, (2000, 2000), 3_999_999) == (
        "an AV1 frame of 2000x2000 is over the limit of 3999999 pixels"
    )
    assert avif.check_frame_sizes(data, (2000, 2000), 4_000_000) is None


def test_an_animation_whose_track_and_items_declare_less_is_refused():
    data = set_declared(animation(600, 600, 2, "RGBA"), 100, 100)
    assert declared(data) == (100, 100)
    assert avif.av1_frames(data) == avif.Frames(((600, 600),) * 2, ((600, 600),) * 2)
    assert "600x600 is larger than the declared 100x100" in avif.check_frame_sizes(data, (100, 100), LIMIT)


def test_every_av1_item_counts_not_only_the_primary_one():
    small, large = item_data((100, 100)), item_data((2000, 2000))
    data = build([small, large], (100, 100))  # a second item (an alpha plane, a thumbnail...) of 2000x2000
    assert declared(data) == (100, 100)
    assert avif.av1_frame_sizes(data) == [(100, 100), (2000, 2000)]
    assert "2000x2000 is larger than the declared 100x100" in avif.check_frame_sizes(data, (100, 100), LIMIT)


def test_a_frame_that_gives_its_own_size_past_the_sequence_maximum_is_read_at_that_size():
    """dav1d decodes a frame at the size its header gives with frame_size_override_flag, even past the sequence
    header's max_frame_width and max_frame_height: the maximum alone would let this file through."""
    data = build([bytes.fromhex(FORCED_UNDER)], (100, 100))
    assert avif.av1_frame_sizes(data) == [(320, 240)]
    assert "320x240 is larger than the declared 100x100" in avif.check_frame_sizes(data, (100, 100), LIMIT)
    made = build([TEMPORAL_DELIMITER + sequence_header(100, 100) + key_frame(16384, 16384)], (100, 100))
    assert avif.av1_frame_sizes(made) == [(16384, 16384)]
    assert "over the limit" in avif.check_frame_sizes(made, (100, 100), LIMIT)


def test_a_tile_larger_than_its_grid_is_refused():
    tile = item_data((640, 480))
    data = build([tile], (640, 480), grid=(1, 1, 64, 48))  # libavif accepts a 1x1 grid whose tile overhangs
    assert decoded(data) == (64, 48)
    assert "640x480 is larger than the declared 64x48" in avif.check_frame_sizes(data, (64, 48), LIMIT)


def test_frames_adding_up_to_more_than_the_image_alpha_and_one_tile_are_refused():
    tile = item_data((64, 64))
    data = build([tile] * 4, (64, 64), grid=(2, 2, 66, 66))  # valid for libavif: 4 tiles over a 66x66 image
    assert decoded(data) == (66, 66)
    assert avif.check_frame_sizes(data, (66, 66), LIMIT) == (
        "the AV1 frames of the image items have 16384 pixels together, more than the 12808 that a 66x66 image's "
        "colour, alpha and grid tiles can need"
    )


def test_a_track_is_read_from_its_av1c_and_its_first_sample():
    header = sequence_header(640, 480, reduced=True)
    assert avif.av1_frames(track(header + key_frame(None, None))).tracks == ((640, 480),)
    assert avif.av1_frames(track(key_frame(None, None), config_obus=header)).tracks == ((640, 480),)  # av1C's
    assert avif.av1_frames(track(header, config_obus=sequence_header(4000, 3000), co64=True)).tracks == ((4000, 3000),)
    full = sequence_header(640, 480)
    assert avif.av1_frames(track(full + key_frame(5000, 300))).tracks == ((5000, 300),)
    assert avif.av1_frames(track(b"", samples=0)).tracks == ()  # nothing to decode
    assert "has no sequence header" in avif.check_frame_sizes(track(obu(15, b"\0")), (640, 480), LIMIT)


# -- What cannot be read is refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (build([key_frame(None, None)], (64, 48)), "an AV1 frame comes before any sequence header"),
        (build([TEMPORAL_DELIMITER + obu(15, bytes(4))], (64, 48)), "AV1 item 1 has no sequence header"),
        (build([sequence_header(64, 48)[:4]], (64, 48)), "an OBU runs past its data"),
        (build([bytes([0x8A, 0])], (64, 48)), "an OBU has its forbidden bit set"),
        (build([sequence_header(64, 48)], (64, 48), method=2), "AV1 item 1 is stored in a way the decoder cannot"),
        (FTYP + full_box(b"meta", 0, full_box(b"hdlr", 0, bytes(4), b"pict", bytes(13))), "no AV1 image"),
        (still(64, 48)[:-1], "AV1 item 1 lies past the end of its data"),
    ],
    ids=["frame-first", "no-sequence-header", "obu-cut-short", "forbidden-bit", "item-offsets", "no-item", "cut"],
)
def test_a_file_whose_av1_headers_cannot_be_read_is_refused(data, reason):
    assert reason in avif.check_frame_sizes(data, (64, 48), LIMIT)


class Lines:
    """Counts the lines of imagevariants.edge.avif that run inside the block: its work, whatever the machine."""

    def __init__(self) -> None:
        self.count = 0

    def trace(self, frame, event, arg):
        if frame.f_code.co_filename != avif.__file__:
            return None  # not into the frames of other modules
        if event == "line":
            self.count += 1
        return self.trace

    def __enter__(self) -> Lines:
        self.previous = sys.gettrace()
        sys.settrace(self.trace)
        return self

    def __exit__(self, *exc_info) -> None:
        sys.settrace(self.previous)


def read(data: bytes, size: tuple[int, int] = (64, 64)) -> str | None:
    """check_frame_sizes, having asserted that av1_frame_sizes raises nothing but ValueError, and that both run
    no more than ``MOST_LINES`` lines."""
    with Lines() as lines:
        try:
            avif.av1_frame_sizes(data)
        except ValueError:
            pass
    assert lines.count <= MOST_LINES
    with Lines() as lines:
        reason = avif.check_frame_sizes(data, size, LIMIT)
    assert lines.count <= MOST_LINES
    return reason


@pytest.mark.parametrize("name", ["rgba", "grid", "animation"])
def test_every_prefix_of_a_file_is_refused_or_read_whole(name):
    """A prefix is refused, or it holds all the data the walk reads (a grid's in its meta box; an animation's but
    for its later samples) and gives the whole file's sizes."""
    data, size = {
        "rgba": (still(64, 48, "RGBA"), (64, 48)),
        "grid": (build([item_data((64, 64))] * 4, (64, 64), (2, 2, 128, 128), in_idat=True, split=True), (128, 128)),
        "animation": (animation(64, 48, 3, "RGBA"), (64, 48)),
    }[name]
    whole = avif.av1_frame_sizes(data)
    assert read(data, size) is None
    for end in range(len(data)):
        assert read(data[:end], size) is not None or avif.av1_frame_sizes(data[:end]) == whole


def test_random_and_mutated_bytes_are_read_or_refused():
    rng = random.Random(20240611)
    originals = [
        still(64, 48, "RGBA"),
        animation(33, 65, 2, "RGBA"),
        build([item_data((64, 64))] * 2, (64, 64), split=True),
    ]
    for _ in range(1500):
        read(rng.randbytes(rng.randrange(300)))
        read(FTYP + rng.randbytes(rng.randrange(300)))
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randrange(1, 6)):
            at = rng.randrange(len(data))
            data[at] = rng.choice((rng.randrange(256), 0, 0xFF, 0x80, data[at] ^ 1 << rng.randrange(8)))
        read(bytes(data))


@pytest.mark.parametrize(
    "data",
    [
        FTYP + box(b"free") * 10_000,
        FTYP + full_box(b"meta", 0, box(b"free") * 10_000),
        FTYP
        + full_box(
            b"meta",
            0,
            full_box(
                b"iloc",
                1,
                b"\x44\x00",
                struct.pack(">H", 10_000),
                *(struct.pack(">HHHHII", i, 0, 0, 1, 0, 0) for i in range(10_000)),
            ),
        ),
        build([sequence_header(64, 48) + bytes([0x7A, 0]) * 10_000], (64, 48)),  # padding OBUs
        build([sequence_header(64, 48) * 2_000], (64, 48)),
        build([sequence_header(64, 48) + key_frame(64, 48) * 2_000], (64, 48)),
        build([sequence_header(64, 48, reduced=True)] * 3_000, (64, 48)),
    ],
    ids=["boxes", "meta-boxes", "iloc-items", "obus", "sequence-headers", "frame-headers", "items"],
)
def test_a_file_of_too_much_structure_is_refused_within_its_steps(data):
    assert "MAX_STEPS" in read(data)


def test_the_pipeline_refuses_an_avif_that_understates_its_frame_before_decoding(monkeypatch):
    """What the parser finds is what the pipeline acts on: probe and render refuse the lie (413), and the
    decoder never runs; an honest AVIF of the same frame passes."""
    from imagevariants.edge.errors import SourceTooLarge
    from imagevariants.edge.limits import Limits
    from imagevariants.edge.pipeline import probe, render
    from imagevariants.edge.spec import Spec

    honest = still(1200, 1200)
    lie = set_declared(honest, 100, 100)
    with pytest.raises(SourceTooLarge, match="larger than the declared 100x100"):
        probe(lie, Limits())
    with pytest.raises(SourceTooLarge, match="larger than the declared 100x100"):
        render(lie, Spec(50, format="png"), Limits())
    assert probe(honest, Limits()).width == 1200
    assert render(honest, Spec(50, format="png"), Limits()).width == 50
