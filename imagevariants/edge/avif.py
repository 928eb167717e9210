"""The size of every AV1 frame an AVIF makes the decoder allocate, read from the AV1 headers themselves.

Pillow reports an AVIF's size from its container: the primary item's ``ispe`` property (a grid's output size), or
the track header of an image sequence. libavif hands dav1d the AV1 bitstream whatever those say, and dav1d
allocates every frame at the size the bitstream's own headers give, up to 268 MP a frame: a 3.5 KB file whose
``ispe`` says 400x400 decodes a 16384x16384 frame, about 1 GB, past the pixel limit and the memory estimate that
both trusted the 400x400. :func:`check_frame_sizes` compares the two before anything is decoded.

What is read, in pure Python:

* every ``av01`` item that ``iinf`` lists (the image, its alpha plane, grid tiles, gain maps, thumbnails), its data
  located through ``iloc`` (construction method 0, file offsets, or 1, offsets into ``idat``; libavif refuses 2):
  every sequence header OBU in the data, and the header of every frame;
* every track whose sample description has an ``av01`` entry: the sequence headers of the entries' ``av1C``
  configOBUs, and the OBUs of the track's first sample (the first chunk's first sample).

A frame is as large as its sequence header's max_frame_width x max_frame_height, unless its frame header sets
frame_size_override_flag: it then gives its own size, in as many bits as the sequence header allows, and dav1d
does not check that size against the maximum (the AV1 specification requires it no larger; dav1d allocates what
the header says: a sequence header of 100x100 can precede a 16384x16384 frame). So every frame header is read as
far as its size. An item counts as its largest frame (its sequence header's maximum if it has no frame); a track
as the largest of its sequence headers' maxima and of its first sample's frames. Later samples of a track are not
read: one can carry a new sequence header, or a frame with its own size, that only the decoder sees.

The walk is bounded: every box, ``iloc`` entry, extent and OBU costs a step, a sequence or frame header a few, and
past ``MAX_STEPS`` the file is refused. A header is read from at most a few hundred bytes. Anything malformed or
cut short raises ValueError, and nothing else.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

#: Units of work of one file, each 0.3-2 us of Python: a box, an ``iloc`` entry or extent, or an OBU costs one; a
#: sequence or frame header ``HEADER_STEPS`` and one more for every ``HEADER_BITS_PER_STEP`` bits read (the longest
#: possible sequence header, 3,100 bits, takes 80 us). A still image costs about 20 steps, its alpha plane 10 more,
#: an animation about 100; a grid about 7 a tile (192 tiles of 512 px over a 48 MP photo: 1,400 steps, 2-3 ms). The
#: most any file can cost is 2-5 ms (measured on files of boxes, iloc entries, OBUs or headers past the limit).
MAX_STEPS = 4096
HEADER_STEPS = 2
HEADER_BITS_PER_STEP = 32
#: Bytes of an OBU read for its header. A sequence header has at most 2,900 bits before the fields read here (32
#: operating points with every optional field); a frame header, at most 1,350 bits before its size.
SEQUENCE_HEADER_BYTES = 512
FRAME_HEADER_BYTES = 256

_OBU_SEQUENCE_HEADER = 1
_OBU_FRAME_HEADERS = (3, 6, 7)  # OBU_FRAME_HEADER, OBU_FRAME, OBU_REDUNDANT_FRAME_HEADER
_KEY_FRAME, _INTRA_ONLY_FRAME, _SWITCH_FRAME = 0, 2, 3
_SELECT = 2  # seq_force_screen_content_tools / seq_force_integer_mv: chosen by each frame
_VISUAL_SAMPLE_ENTRY = 78  # bytes of a VisualSampleEntry before its child boxes (av1C among them)


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS

    def spend(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise ValueError(f"the file has more structure than {MAX_STEPS} steps of reading allow (MAX_STEPS)")


class _Bits:
    """An MSB-first bit reader, as the AV1 specification's f(n)."""

    __slots__ = ("value", "size", "left")

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.size = self.left = len(data) * 8

    @property
    def read(self) -> int:
        """Bits read so far."""
        return self.size - self.left

    def f(self, n: int) -> int:
        if n > self.left:
            raise ValueError("an AV1 header is cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def uvlc(self) -> int:
        """uvlc(), as dav1d reads it: 32 leading zeros make the header invalid."""
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros == 32:
                raise ValueError("an AV1 sequence header has an invalid uvlc value")
        return self.f(zeros) + (1 << zeros) - 1


@dataclass(frozen=True)
class _Sequence:
    """What a sequence header tells: the largest frame, and the fields a frame header's parse needs."""

    max_width: int
    max_height: int
    reduced: bool = True
    width_bits: int = 0
    height_bits: int = 0
    presentation_bits: int = 0  # frame_presentation_time's length, 0 if frames carry none
    decoder_model: bool = False
    removal_bits: int = 0
    operating_points: tuple[tuple[int, bool], ...] = ()  # (operating_point_idc, decoder_model_present_for_this_op)
    frame_id_bits: int = 0  # idLen, 0 without frame_id_numbers_present_flag
    delta_frame_id_bits: int = 0
    screen_content_tools: int = _SELECT
    integer_mv: int = _SELECT
    order_hint_bits: int = 0


@dataclass(frozen=True)
class _Timing:
    """What a sequence header's timing_info() and decoder_model_info() tell (all zero when it has none)."""

    equal_interval: int = 0
    decoder_model: int = 0
    delay_bits: int = 0  # buffer_delay_length_minus_1 + 1
    removal_bits: int = 0
    presentation_bits: int = 0


def _timing(r: _Bits) -> _Timing:
    """timing_info_present_flag, then timing_info() and decoder_model_info() if present (5.5.1, 5.5.3, 5.5.4)."""
    if not r.f(1):  # timing_info_present_flag
        return _Timing()
    r.f(32)  # num_units_in_display_tick
    r.f(32)  # time_scale
    equal_interval = r.f(1)
    if equal_interval:
        r.uvlc()  # num_ticks_per_picture_minus_1
    if not r.f(1):  # decoder_model_info_present_flag
        return _Timing(equal_interval)
    delay_bits = r.f(5) + 1
    r.f(32)  # num_units_in_decoding_tick
    removal_bits = r.f(5) + 1
    presentation_bits = r.f(5) + 1
    return _Timing(equal_interval, 1, delay_bits, removal_bits, presentation_bits)


def _operating_points(r: _Bits, timing: _Timing) -> list[tuple[int, bool]]:
    """initial_display_delay_present_flag and the operating points: (operating_point_idc,
    decoder_model_present_for_this_op) of each."""
    initial_display_delay = r.f(1)
    operating_points: list[tuple[int, bool]] = []
    for _ in range(r.f(5) + 1):  # operating_points_cnt_minus_1
        idc = r.f(12)
        if r.f(5) > 7:  # seq_level_idx
            r.f(1)  # seq_tier
        present = False
        if timing.decoder_model:
            present = bool(r.f(1))
            if present:  # operating_parameters_info()
                r.f(timing.delay_bits)  # decoder_buffer_delay
                r.f(timing.delay_bits)  # encoder_buffer_delay
                r.f(1)  # low_delay_mode_flag
        if initial_display_delay and r.f(1):
            r.f(4)  # initial_display_delay_minus_1
        operating_points.append((idc, present))
    return operating_points


def _sequence_header(r: _Bits) -> _Sequence:
    """Parse sequence_header_obu() (AV1 specification 5.5.1) up to OrderHintBits."""
    r.f(3)  # seq_profile
    r.f(1)  # still_picture
    reduced = r.f(1)
    timing = _Timing()
    operating_points: list[tuple[int, bool]] = []
    if reduced:
        r.f(5)  # seq_level_idx[0]
    else:
        timing = _timing(r)
        operating_points = _operating_points(r, timing)
    width_bits = r.f(4) + 1
    height_bits = r.f(4) + 1
    max_width = r.f(width_bits) + 1
    max_height = r.f(height_bits) + 1
    if reduced:  # every frame is a key frame of the maximum size: nothing more is needed
        return _Sequence(max_width, max_height)
    # What uncompressed_header() needs to reach frame_size():
    frame_id_bits = delta_frame_id_bits = 0
    if r.f(1):  # frame_id_numbers_present_flag
        delta_frame_id_bits = r.f(4) + 2
        frame_id_bits = r.f(3) + delta_frame_id_bits + 1
    r.f(3)  # use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    r.f(4)  # enable_interintra_compound, enable_masked_compound, enable_warped_motion, enable_dual_filter
    order_hint = r.f(1)
    if order_hint:
        r.f(2)  # enable_jnt_comp, enable_ref_frame_mvs
    screen_content_tools = _SELECT if r.f(1) else r.f(1)
    integer_mv = _SELECT
    if screen_content_tools and not r.f(1):  # seq_choose_integer_mv
        integer_mv = r.f(1)
    return _Sequence(
        max_width,
        max_height,
        reduced=False,
        width_bits=width_bits,
        height_bits=height_bits,
        presentation_bits=timing.presentation_bits if timing.decoder_model and not timing.equal_interval else 0,
        decoder_model=bool(timing.decoder_model),
        removal_bits=timing.removal_bits,
        operating_points=tuple(operating_points),
        frame_id_bits=frame_id_bits,
        delta_frame_id_bits=delta_frame_id_bits,
        screen_content_tools=screen_content_tools,
        integer_mv=integer_mv,
        order_hint_bits=r.f(3) + 1 if order_hint else 0,
    )


def _skip_buffer_removal_times(r: _Bits, seq: _Sequence, temporal_id: int, spatial_id: int) -> None:
    """buffer_removal_time_present_flag, and a buffer_removal_time for every operating point that has a decoder
    model and includes the frame's layers."""
    if seq.decoder_model and r.f(1):  # buffer_removal_time_present_flag
        for idc, present in seq.operating_points:
            if present and (idc == 0 or ((idc >> temporal_id) & 1 and (idc >> (spatial_id + 8)) & 1)):
                r.f(seq.removal_bits)  # buffer_removal_time


def _takes_a_reference_size(r: _Bits, seq: _Sequence, error_resilient: int) -> bool:
    """Read an inter frame's references up to its size: whether it takes the size of a frame decoded before
    (found_ref in frame_size_with_refs()), rather than giving its own."""
    short_signaling = r.f(1) if seq.order_hint_bits else 0
    if short_signaling:
        r.f(6)  # last_frame_idx, gold_frame_idx
    for _ in range(7):
        if not short_signaling:
            r.f(3)  # ref_frame_idx
        r.f(seq.delta_frame_id_bits)  # delta_frame_id_minus_1
    if not error_resilient:  # frame_size_with_refs()
        for _ in range(7):
            if r.f(1):  # found_ref: the size of a frame decoded before
                return True
    return False


def _frame_size(r: _Bits, seq: _Sequence, temporal_id: int, spatial_id: int) -> tuple[int, int] | None:
    """The size of the frame a frame header starts (uncompressed_header(), AV1 specification 5.9.2), or None when
    it takes the size of a frame decoded before (a reference frame's, or one it shows again). ``seq`` is not a
    reduced still picture header."""
    if r.f(1):  # show_existing_frame
        return None
    frame_type = r.f(2)
    show_frame = r.f(1)
    if show_frame:
        r.f(seq.presentation_bits)  # temporal_point_info()
    else:
        r.f(1)  # showable_frame
    intra = frame_type in (_KEY_FRAME, _INTRA_ONLY_FRAME)
    all_refreshed = frame_type == _SWITCH_FRAME or (frame_type == _KEY_FRAME and show_frame)
    error_resilient = 1 if all_refreshed else r.f(1)
    r.f(1)  # disable_cdf_update
    screen_content_tools = r.f(1) if seq.screen_content_tools == _SELECT else seq.screen_content_tools
    if screen_content_tools and seq.integer_mv == _SELECT:
        r.f(1)  # force_integer_mv
    r.f(seq.frame_id_bits)  # current_frame_id
    if not (frame_type == _SWITCH_FRAME or r.f(1)):  # frame_size_override_flag
        return seq.max_width, seq.max_height
    r.f(seq.order_hint_bits)  # order_hint
    if not (intra or error_resilient):
        r.f(3)  # primary_ref_frame
    _skip_buffer_removal_times(r, seq, temporal_id, spatial_id)
    refresh = 0xFF if all_refreshed else r.f(8)  # refresh_frame_flags
    if (not intra or refresh != 0xFF) and error_resilient:
        for _ in range(8):
            r.f(seq.order_hint_bits)  # ref_order_hint
    if not intra and _takes_a_reference_size(r, seq, error_resilient):
        return None
    return r.f(seq.width_bits) + 1, r.f(seq.height_bits) + 1


class _Data:
    """Bytes made of extents of the file, read a little at a time (an item's data may be split)."""

    __slots__ = ("data", "starts", "offsets", "size")

    def __init__(self, data: bytes, segments: list[tuple[int, int]]) -> None:
        self.data = data
        self.starts: list[int] = []  # where each segment starts in these bytes
        self.offsets: list[int] = []  # and where in the file
        total = 0
        for offset, length in segments:
            self.starts.append(total)
            self.offsets.append(offset)
            total += length
        self.size = total

    def read(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``pos`` (fewer at the end)."""
        if len(self.starts) == 1:
            start = self.offsets[0] + pos
            return self.data[start : start + min(n, self.size - pos)]
        n = min(n, self.size - pos)
        out = b""
        while len(out) < n:
            index = bisect.bisect_right(self.starts, pos) - 1
            start = self.offsets[index] + pos - self.starts[index]
            end = self.starts[index + 1] if index + 1 < len(self.starts) else self.size
            take = min(n - len(out), end - pos)
            out += self.data[start : start + take]
            pos += take
        return out


def _leb128(head: bytes, pos: int) -> tuple[int, int]:
    """leb128() as dav1d reads it: at most 8 bytes, and a value under 2**32."""
    value = 0
    for i in range(8):
        if pos >= len(head):
            raise ValueError("an OBU header is cut short")
        byte = head[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if value >> 32:
                break
            return value, pos
    raise ValueError("an OBU has an invalid size")


@dataclass
class _Walk:
    """What the OBUs of an item's data, or of a sample, tell."""

    frames: list[tuple[int, int]] = field(default_factory=list)  # the size of each frame, as its header gives it
    maxima: list[tuple[int, int]] = field(default_factory=list)  # the largest frame of each sequence header
    seq: _Sequence | None = None  # the sequence header in force at the end


def _obu_header(stream: _Data, pos: int) -> tuple[int, int, int, int, int]:
    """The header of the OBU at ``pos`` (obu_header() and obu_size, AV1 specification 5.3): its type, temporal_id
    and spatial_id, and where its payload starts (from ``pos``) and how long it is."""
    head = stream.read(pos, 10)
    byte = head[0]
    if byte & 0x80:
        raise ValueError("an OBU has its forbidden bit set")
    kind = (byte >> 3) & 15
    temporal_id = spatial_id = 0
    start = 1
    if byte & 4:  # obu_extension_flag
        if len(head) < 2:
            raise ValueError("an OBU header is cut short")
        temporal_id, spatial_id = head[1] >> 5, (head[1] >> 3) & 3
        start = 2
    if byte & 2:  # obu_has_size_field
        if start < len(head) and head[start] < 0x80:  # a one-byte leb128
            size = head[start]
            start += 1
        else:
            size, start = _leb128(head, start)
    else:
        size = stream.size - pos - start
    if start > len(head) or pos + start + size > stream.size:
        raise ValueError("an OBU runs past its data")
    return kind, temporal_id, spatial_id, start, size


def _walk(stream: _Data, budget: _Budget, seq: _Sequence | None = None) -> _Walk:
    """Walk the OBUs of ``stream``, reading every sequence header and the size in every frame header. ``seq`` is
    the sequence header in force before it (a track's av1C), if any."""
    walk = _Walk(seq=seq)
    pos = 0
    while pos < stream.size:
        budget.spend()
        kind, temporal_id, spatial_id, start, size = _obu_header(stream, pos)
        if kind == _OBU_SEQUENCE_HEADER:
            bits = _Bits(stream.read(pos + start, min(size, SEQUENCE_HEADER_BYTES)))
            walk.seq = _sequence_header(bits)
            budget.spend(HEADER_STEPS + bits.read // HEADER_BITS_PER_STEP)
            walk.maxima.append((walk.seq.max_width, walk.seq.max_height))
        elif kind in _OBU_FRAME_HEADERS:
            if walk.seq is None:
                raise ValueError("an AV1 frame comes before any sequence header")
            frame: tuple[int, int] | None = (walk.seq.max_width, walk.seq.max_height)
            if not walk.seq.reduced:  # else every frame is a key frame of the maximum size
                bits = _Bits(stream.read(pos + start, min(size, FRAME_HEADER_BYTES)))
                frame = _frame_size(bits, walk.seq, temporal_id, spatial_id)
                budget.spend(HEADER_STEPS + bits.read // HEADER_BITS_PER_STEP)
            if frame is not None:
                walk.frames.append(frame)
        pos += start + size
    return walk


def _largest(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    return max(sizes, key=lambda size: size[0] * size[1])


def _uint(data: bytes, pos: int, size: int, end: int) -> int:
    if pos + size > end:
        raise ValueError("a box is cut short")
    return int.from_bytes(data[pos : pos + size], "big")


def _boxes(data: bytes, start: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """The boxes between ``start`` and ``end``: (type, payload start, end)."""
    pos = start
    while pos < end:
        budget.spend()
        size = _uint(data, pos, 4, end)
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = _uint(data, pos + 8, 8, end), 16
        elif size == 0:
            size = end - pos
        if kind == b"uuid":
            header += 16
        if size < header or size > end - pos:
            raise ValueError(f"a {kind.decode('latin-1')!r} box does not fit its container")
        yield kind, pos + header, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes, budget: _Budget) -> tuple[int, int] | None:
    for found, child_start, child_end in _boxes(data, start, end, budget):
        if found == kind:
            return child_start, child_end
    return None


def _top_level(data: bytes, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """The file's meta and moov boxes. Like libavif, the walk skips other boxes unread (an mdat may be cut short)
    and ends at bytes that are no box."""
    pos, end = 0, len(data)
    while end - pos >= 8:
        budget.spend()
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        if kind in (b"meta", b"moov"):
            if size > end - pos:
                raise ValueError(f"the {kind.decode()} box is cut short")
            yield kind, pos + header, pos + size
        pos += size


_ILOC_FIELDS = {0: "", 4: "I", 8: "Q"}  # iloc's offset, length, base offset and index sizes: struct codes


def _item_locations(data: bytes, start: int, end: int, budget: _Budget) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """iloc (ISO/IEC 14496-12 8.11.3): construction method and extents (offset, length) by item ID."""
    version = _uint(data, start, 1, end)
    if version > 2:
        raise ValueError(f"the iloc box has version {version}")
    fields = _uint(data, start + 4, 2, end)
    offset_size, length_size, base_size = fields >> 12, (fields >> 8) & 15, (fields >> 4) & 15
    index_size = fields & 15 if version else 0
    if not {offset_size, length_size, base_size, index_size} <= _ILOC_FIELDS.keys():
        raise ValueError("the iloc box has an invalid field size")
    id_code = "I" if version == 2 else "H"
    # item_ID, [construction_method], data_reference_index, base_offset, extent_count
    entry = struct.Struct(">" + id_code + ("H" if version else "") + "H" + _ILOC_FIELDS[base_size] + "H")
    extent = struct.Struct(">" + "".join(_ILOC_FIELDS[size] for size in (index_size, offset_size, length_size)))
    offset_at = 1 if index_size else 0  # where extent_offset is among an extent's fields, and extent_length
    length_at = offset_at + (1 if offset_size else 0)
    count = _uint(data, start + 6, 4 if version == 2 else 2, end)
    pos = start + (10 if version == 2 else 8)
    locations: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        budget.spend()
        if pos + entry.size > end:
            raise ValueError("the iloc box is cut short")
        values = entry.unpack_from(data, pos)
        pos += entry.size
        item_id, extent_count = values[0], values[-1]
        method = values[1] & 15 if version else 0
        base = values[-2] if base_size else 0
        budget.spend(extent_count)
        if pos + extent.size * extent_count > end:
            raise ValueError("the iloc box is cut short")
        if extent.size:
            extents = [
                (base + (fields[offset_at] if offset_size else 0), fields[length_at] if length_size else 0)
                for fields in extent.iter_unpack(data[pos : pos + extent.size * extent_count])
            ]
        else:  # no offset nor length fields: every extent starts at the base offset and is empty
            extents = [(base, 0)] * extent_count
        pos += extent.size * extent_count
        if item_id in locations:
            raise ValueError(f"item {item_id} is located twice")
        locations[item_id] = (method, extents)
    return locations


def _av1_items(data: bytes, start: int, end: int, budget: _Budget) -> list[int]:
    """The IDs of the av01 items that iinf lists (item_type is in infe versions 2 and 3)."""
    version = _uint(data, start, 1, end)
    ids = []
    for kind, child, child_end in _boxes(data, start + (6 if version == 0 else 8), end, budget):
        if kind != b"infe" or _uint(data, child, 1, child_end) < 2:
            continue
        id_size = 2 if data[child] == 2 else 4
        item_id = _uint(data, child + 4, id_size, child_end)
        if data[child + 6 + id_size : child + 10 + id_size] == b"av01":
            ids.append(item_id)
    return ids


@dataclass
class _MetaBoxes:
    """What a meta box's iinf, iloc and idat boxes tell."""

    ids: list[int] = field(default_factory=list)  # of the av01 items
    locations: dict[int, tuple[int, list[tuple[int, int]]]] = field(default_factory=dict)
    idat: tuple[int, int] | None = None  # the first idat box's payload: start, end


def _meta_boxes(data: bytes, start: int, end: int, budget: _Budget) -> _MetaBoxes:
    """Read the iinf, iloc and idat children of a meta box."""
    found = _MetaBoxes()
    for kind, child, child_end in _boxes(data, start + 4, end, budget):  # a FullBox: after version and flags
        if kind == b"iinf":
            found.ids += _av1_items(data, child, child_end, budget)
        elif kind == b"iloc":
            locations = _item_locations(data, child, child_end, budget)
            if locations.keys() & found.locations.keys():
                raise ValueError("an item is located twice")
            found.locations.update(locations)
        elif kind == b"idat" and found.idat is None:
            found.idat = child, child_end
    return found


def _item_segments(data: bytes, item_id: int, meta: _MetaBoxes) -> list[tuple[int, int]]:
    """Where an item's data lies in the file: (offset, length) of each of its extents."""
    if item_id not in meta.locations:
        raise ValueError(f"AV1 item {item_id} has no location")
    method, extents = meta.locations[item_id]
    if method == 0:
        base, limit = 0, len(data)
    elif method == 1 and meta.idat is not None:
        base, limit = meta.idat
    else:
        raise ValueError(f"AV1 item {item_id} is stored in a way the decoder cannot read")
    segments = []
    for offset, length in extents:
        if offset > limit - base or length > limit - base - offset:
            raise ValueError(f"AV1 item {item_id} lies past the end of its data")
        segments.append((base + offset, length))
    return segments


def _meta(data: bytes, start: int, end: int, budget: _Budget) -> list[tuple[int, int]]:
    """The largest frame of each av01 item of a meta box."""
    meta = _meta_boxes(data, start, end, budget)
    sizes = []
    for item_id in meta.ids:
        walk = _walk(_Data(data, _item_segments(data, item_id, meta)), budget)
        if walk.seq is None:
            raise ValueError(f"AV1 item {item_id} has no sequence header")
        sizes.append(_largest(walk.frames or walk.maxima))  # the frames the decoder allocates, if it has any
    return sizes


def _track(data: bytes, start: int, end: int, budget: _Budget) -> tuple[int, int] | None:
    """The largest frame of a trak box's av01 sample entries (av1C) and first sample; None for a track that has
    no av01 sample entry, or no sample at all."""
    media = _child(data, start, end, b"mdia", budget)
    info = media and _child(data, *media, b"minf", budget)
    table = info and _child(data, *info, b"stbl", budget)
    description = table and _child(data, *table, b"stsd", budget)
    if table is None or description is None:
        return None
    sizes: list[tuple[int, int]] = []
    seq: _Sequence | None = None
    av1 = False
    for kind, entry, entry_end in _boxes(data, description[0] + 8, description[1], budget):  # after entry_count
        if kind != b"av01":
            continue
        av1 = True
        config = _child(data, entry + _VISUAL_SAMPLE_ENTRY, entry_end, b"av1C", budget)
        if config is not None and config[1] - config[0] > 4:  # configOBUs follow 4 bytes of fields
            walk = _walk(_Data(data, [(config[0] + 4, config[1] - config[0] - 4)]), budget)
            sizes += walk.maxima
            seq = seq or walk.seq
    if not av1:
        return None
    sample_sizes = _child(data, *table, b"stsz", budget)
    if sample_sizes is None:
        raise ValueError("an AV1 track has no sample size box")
    if _uint(data, sample_sizes[0] + 8, 4, sample_sizes[1]):  # sample_count
        size = _uint(data, sample_sizes[0] + 4, 4, sample_sizes[1]) or _uint(
            data, sample_sizes[0] + 12, 4, sample_sizes[1]
        )
        chunks, width = _child(data, *table, b"stco", budget), 4
        if chunks is None:
            chunks, width = _child(data, *table, b"co64", budget), 8
        if chunks is None or not _uint(data, chunks[0] + 4, 4, chunks[1]):
            raise ValueError("an AV1 track has no chunk offsets")
        offset = _uint(data, chunks[0] + 8, width, chunks[1])
        if offset > len(data) or size > len(data) - offset:
            raise ValueError("an AV1 track's first sample lies past the end of the file")
        walk = _walk(_Data(data, [(offset, size)]), budget, seq)
        sizes += walk.maxima + walk.frames  # later frames take the maximum, unless they give their own size
        if not sizes:
            raise ValueError("an AV1 track has no sequence header")
    return _largest(sizes) if sizes else None


@dataclass(frozen=True)
class Frames:
    """The largest AV1 frame of each image item, and of each image sequence track."""

    items: tuple[tuple[int, int], ...]
    tracks: tuple[tuple[int, int], ...]


def av1_frames(data: bytes) -> Frames:
    """Read the AV1 frame sizes of an AVIF file's items and tracks; ValueError if any cannot be read."""
    budget = _Budget()
    items: list[tuple[int, int]] = []
    tracks: list[tuple[int, int]] = []
    for kind, start, end in _top_level(data, budget):
        if kind == b"meta":
            items += _meta(data, start, end, budget)
        else:
            for child, child_start, child_end in _boxes(data, start, end, budget):
                if child == b"trak":
                    size = _track(data, child_start, child_end, budget)
                    if size is not None:
                        tracks.append(size)
    return Frames(tuple(items), tuple(tracks))


def av1_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """The (width, height) of the largest AV1 frame of every image item, then of every track, of an AVIF file.

    An item's are the frames its data holds: its sequence header's max_frame_width x max_frame_height, or the size
    a frame header gives itself. A track's are its sequence headers' maxima and the frames of its first sample.
    Raises ValueError, and nothing else, for a file that cannot be read; the work is bounded whatever the file.
    """
    frames = av1_frames(data)
    return [*frames.items, *frames.tracks]


def check_frame_sizes(data: bytes, declared: tuple[int, int], max_pixels: int) -> str | None:
    """Why an AVIF must not be decoded, in one sentence, or None. ``declared`` is the size Pillow reports: libavif's,
    the primary item's ispe (a grid's output size), or an animation's track header.

    Refused, before any decoding:

    * a file whose AV1 headers cannot be read (cut short, malformed, more than ``MAX_STEPS`` of structure), or
      that has an AV1 item or track without a sequence header. What the decoder would allocate is then unknown,
      and it could not decode such a file either: dav1d needs a sequence header in the data it is given. Pillow,
      libavif (avifenc with aom, rav1e or SVT-AV1) and aomenc write every header this walk reads;
    * a file with no AV1 item nor track (made of boxes this walk does not read, such as an experimental ``mini``);
    * an AV1 frame of more than ``max_pixels``: what the decoder allocates, whatever the container says;
    * an AV1 frame of more pixels than the declared image. A single image's frame is exactly its ispe size (libavif
      copies it into an image of that size), an alpha plane is its colour image's size, a grid's tiles are smaller
      than the grid, gain maps and thumbnails than the image. (libavif accepts a 1x1 grid whose one tile is any
      size over the output's: no encoder writes one.) Pixels, not sides: a size may be reported before or after a
      rotation. Without this rule the next one would let a single frame of any size through;
    * AV1 items, or tracks, whose frames have more pixels together than twice the declared image and one frame
      more: its colour and alpha planes, and a grid's tiles overhanging its right and bottom edges by up to a
      tile's worth (libavif's own grids divide the image exactly; 512-px tiles over a 4032x3024 photo overhang by
      0.75 of a tile; a grid and an alpha grid that overhang by more than half a tile each are refused). Items
      and tracks are checked apart: libavif decodes one or the other (Pillow stores an animation's first frame as
      an item too), and a track's frames one after the other.

    Every rule is on the frames the decoder allocates, so a file refused here would have cost more than the size
    it declares: at most its colour, alpha and one tile's worth pass, under three times the declared pixels.
    """
    try:
        frames = av1_frames(data)
    except ValueError as error:
        return f"the AV1 headers cannot be read: {error}"
    if not frames.items and not frames.tracks:
        return "no AV1 image item or track could be read"
    width, height = declared
    declared_pixels = width * height
    for group, what in ((frames.items, "image items"), (frames.tracks, "tracks")):
        for frame_width, frame_height in group:
            pixels = frame_width * frame_height
            if pixels > max_pixels:
                return f"an AV1 frame of {frame_width}x{frame_height} is over the limit of {max_pixels} pixels"
            if pixels > declared_pixels:
                return f"an AV1 frame of {frame_width}x{frame_height} is larger than the declared {width}x{height}"
        total = sum(w * h for w, h in group)
        allowed = 2 * declared_pixels + max((w * h for w, h in group), default=0)
        if total > allowed:
            return (
                f"the AV1 frames of the {what} have {total} pixels together, more than the {allowed} that a "
                f"{width}x{height} image's colour, alpha and grid tiles can need"
            )
    return None
