"""Hostile sources: small files whose decoding cost is not their pixel count (the edge's screen refuses them).

Each generator takes the count that makes it costly, so a test builds one just over a limit and one at it, and
benchmarks/hostile.py builds the full-size attack. Files are assembled from their containers' structures (segments,
blocks, chunks, IFDs) rather than through an encoder: 20,000 frames through Pillow's GIF encoder take minutes.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import zlib

from PIL import Image

from tests.images import encode, icc

# -- JPEG ------------------------------------------------------------------------------------------------------

_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_segments(data: bytes) -> list[bytes]:
    """A JPEG cut into its marker segments, each SOS with its entropy-coded data (SOI and EOI included)."""
    segments, pos = [data[:2]], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            segments.append(data[pos : pos + 2])
            break
        end = pos + 2 + struct.unpack_from(">H", data, pos + 2)[0]
        if marker == 0xDA:
            found = _NEXT_MARKER.search(data, end)
            end = found.start() if found else len(data)
        segments.append(data[pos:end])
        pos = end
    return segments


@functools.cache
def _flat_progressive(width: int, height: int, subsampling: int) -> tuple[bytes, ...]:
    grey = Image.new("RGB", (width, height), (120, 120, 120))
    return tuple(jpeg_segments(encode(grey, "JPEG", quality=90, progressive=True, subsampling=subsampling)))


def repeated_scans_jpeg(scans: int, width: int = 64, height: int = 64, repeat: int = -1, subsampling: int = 2) -> bytes:
    """A progressive JPEG of one grey with ``scans`` scans in all, one of its scans repeated: by default the last
    (a refinement of the luma's AC coefficients, a few bytes of end-of-band runs); ``repeat=0``: the first (the DC
    coefficients of every component, a bit a block). Each repeat makes the decoder walk every block of the image
    again, at any DCT scale."""
    segments = _flat_progressive(width, height, subsampling)
    sos = [index for index, segment in enumerate(segments) if segment[1] == 0xDA]
    if scans < len(sos):
        raise ValueError(f"the base image has {len(sos)} scans already")
    return b"".join(segments[:-1]) + segments[sos[repeat]] * (scans - len(sos)) + segments[-1]


def comment_segments_jpeg(count: int, after_first_scan: bool = True) -> bytes:
    """A small progressive JPEG with ``count`` empty COM segments (4 bytes each) after its first scan (where
    libjpeg meets them) or before it (where Pillow's parser, in Python, meets them inside Image.open)."""
    segments = jpeg_segments(encode(Image.new("RGB", (16, 16), "red"), "JPEG", progressive=True))
    at = next(index for index, segment in enumerate(segments) if segment[1] == 0xDA) + (1 if after_first_scan else 0)
    return b"".join(segments[:at]) + b"\xff\xfe\x00\x02" * count + b"".join(segments[at:])


# -- GIF -------------------------------------------------------------------------------------------------------

_GIF_HEADER = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
_GIF_LOOP = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
_GIF_PIXEL = b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"  # a 1x1 frame of colour 0


def gif_frames(frames: int) -> bytes:
    """A GIF of ``frames`` frames of one pixel, 10 ms each: 23 bytes a frame."""
    return _GIF_HEADER + _GIF_LOOP + (b"!\xf9\x04\x00\x01\x00\x00\x00" + _GIF_PIXEL) * frames + b";"


def gif_sub_blocks(blocks: int, before_first_frame: bool = False) -> bytes:
    """A two-frame GIF with a comment of ``blocks`` one-byte sub-blocks between its frames (or before both)."""
    comment = b"!\xfe" + b"\x01x" * blocks + b"\x00"
    if before_first_frame:
        return _GIF_HEADER + _GIF_LOOP + comment + _GIF_PIXEL * 2 + b";"
    return _GIF_HEADER + _GIF_LOOP + _GIF_PIXEL + comment + _GIF_PIXEL + b";"


def gif_stray_bytes(count: int) -> bytes:
    """A two-frame GIF with ``count`` stray zero bytes between its frames (Pillow skips them one at a time)."""
    return _GIF_HEADER + _GIF_LOOP + _GIF_PIXEL + bytes(count) + _GIF_PIXEL + b";"


# -- PNG -------------------------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, between: bytes = b"", after: bytes = b"") -> bytes:
    """A grey PNG with chunks ``between`` its header and its image data and ``after`` its image data."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    pixels = png_chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height))))
    return b"\x89PNG\r\n\x1a\n" + header + between + pixels + after + png_chunk(b"IEND", b"")


def png_idat_chunks(chunks: int) -> bytes:
    """A 16x16 PNG whose image data is split into ``chunks`` IDAT chunks, all but the first empty."""
    return _png(16, 16, after=png_chunk(b"IDAT", b"") * (chunks - 1))


_TEXT_BODIES = {b"tEXt": b"k\x00v", b"zTXt": b"k\x00\x00" + zlib.compress(b"v"), b"iTXt": b"k\x00\x00\x00\x00\x00v"}


def png_text_chunks(chunks: int, kind: bytes = b"tEXt", before_image_data: bool = False) -> bytes:
    """A 16x16 PNG with ``chunks`` tiny chunks of ``kind`` (tEXt, zTXt, iTXt or any other: sPLT, a private one)
    after its image data (read when it is loaded) or before it (read inside Image.open)."""
    text = png_chunk(kind, _TEXT_BODIES.get(kind, b"x")) * chunks
    return _png(16, 16, between=text) if before_image_data else _png(16, 16, after=text)


def apng_frames(frames: int, declared: int | None = None) -> bytes:
    """An APNG of ``frames`` 1x1 frames (an fcTL and image data each), its acTL declaring ``declared``."""
    pixel = zlib.compress(b"\x00\x80")
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    out = [b"\x89PNG\r\n\x1a\n", header, png_chunk(b"acTL", struct.pack(">II", declared or frames, 0))]
    sequence = 0
    for index in range(frames):
        out.append(png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, 1, 1, 0, 0, 1, 100, 0, 0)))
        sequence += 1
        if index == 0:
            out.append(png_chunk(b"IDAT", pixel))
        else:
            out.append(png_chunk(b"fdAT", struct.pack(">I", sequence) + pixel))
            sequence += 1
    return b"".join(out) + png_chunk(b"IEND", b"")


# -- WebP and AVIF ---------------------------------------------------------------------------------------------


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def webp_frames(frames: int, other_chunks: int = 0) -> bytes:
    """An animated WebP of ``frames`` lossless 1x1 frames (ANMF chunks, 48 bytes each), after ``other_chunks``
    empty chunks of an unknown kind."""
    bitstream = encode(Image.new("RGB", (1, 1), "red"), "WEBP", lossless=True)[12:]  # the VP8L chunk
    at_origin, one_pixel, duration = bytes(6), bytes(6), (100).to_bytes(3, "little")
    anmf = _riff_chunk(b"ANMF", at_origin + one_pixel + duration + b"\x00" + bitstream)
    vp8x = _riff_chunk(b"VP8X", b"\x02" + bytes(3) + bytes(6))  # animation flag, a 1x1 canvas
    body = b"WEBP" + vp8x + _riff_chunk(b"ANIM", bytes(6)) + _riff_chunk(b"junk", b"") * other_chunks + anmf * frames
    return b"RIFF" + struct.pack("<I", len(body)) + body


def avif_frames(frames: int) -> bytes:
    """An AVIF image sequence of ``frames`` 8x8 frames (encoded: about 0.6 ms a frame)."""
    images = [Image.new("RGB", (8, 8), (index % 256, 0, 0)) for index in range(frames)]
    return encode(images[0], "AVIF", save_all=True, append_images=images[1:], speed=10, quality=50, duration=10)


# -- TIFF ------------------------------------------------------------------------------------------------------

Entry = tuple[int, int, int, "int | bytes | list"]  # tag, type, count, inline value | out-of-line data | sub-IFD


def tiff(pages: list[list[Entry]], shared: bytes = b"") -> bytes:
    """A little-endian TIFF of ``pages`` (lists of entries); ``shared`` lies at offset 8 for entries to point at.

    An entry's value is an inline integer, bytes placed after its IFD, or a list of entries: a sub-IFD there.
    """
    out = bytearray(b"II*\x00" + bytes(4) + shared)
    next_at = 4
    for entries in pages:
        out += bytes(len(out) % 2)
        at = len(out)
        struct.pack_into("<I", out, next_at, at)
        blobs, packed = b"", []
        data_at = at + 2 + 12 * len(entries) + 4
        for tag, kind, count, value in sorted(entries, key=lambda entry: entry[0]):
            if isinstance(value, list):
                value = _ifd_bytes(value)
            if isinstance(value, bytes):
                packed.append(struct.pack("<HHII", tag, kind, count, data_at + len(blobs)))
                blobs += value + bytes(len(value) % 2)
            else:
                packed.append(struct.pack("<HHII", tag, kind, count, value))
        out += struct.pack("<H", len(entries)) + b"".join(packed) + bytes(4) + blobs
        next_at = at + 2 + 12 * len(entries)
    return bytes(out)


def _ifd_bytes(entries: list[Entry]) -> bytes:
    packed = b"".join(struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries)
    return struct.pack("<H", len(entries)) + packed + bytes(4)


def _grey_page(width: int, height: int, offsets: int | bytes, strips: int = 1, rows: int | None = None) -> list:
    """The entries of an uncompressed 8-bit grey page whose ``strips`` strips start at ``offsets``."""
    rows = height if rows is None else rows
    return [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, strips, offsets), (277, 3, 1, 1), (278, 4, 1, rows), (279, 4, 1, width * rows),
    ]  # fmt: skip


_PRIVATE_TAGS = [tag for tag in range(1000, 65536) if not 0xBC00 <= tag <= 0xBCFF]  # 0xBC01 means a JPEG XR file


def _filler(count: int) -> list[Entry]:
    """``count`` (at most 64,280) entries of distinct private tags, an inline SHORT each (Pillow parses each)."""
    return [(tag, 3, 1, 0) for tag in _PRIVATE_TAGS[:count]]


def tiff_pages(pages: int) -> bytes:
    """A TIFF of ``pages`` 1x1 grey pages sharing one pixel: 114 bytes a page."""
    return tiff([_grey_page(1, 1, 8)] * pages, shared=b"\x80\x00")


def tiff_entries(entries: int, heavy_pages: int = 1) -> bytes:
    """A TIFF of a small first page (9 entries) then ``heavy_pages`` pages of ``entries`` entries each (at most
    65,535: an IFD's count is 16 bits)."""
    page = _grey_page(1, 1, 8)
    return tiff([page] + [page + _filler(entries - len(page))] * heavy_pages, shared=b"\x80\x00")


def tiff_exif_entries(entries: int) -> bytes:
    """A one-page TIFF whose Exif directory (read by Pillow when it loads the page) has ``entries`` entries."""
    return tiff([[*_grey_page(1, 1, 8), (34665, 4, 1, _filler(entries))]], shared=b"\x80\x00")


def tiff_strips(strips: int, width: int = 2, height: int = 2) -> bytes:
    """An uncompressed TIFF of ``height`` rows whose one-row strips number ``strips``: Pillow decodes each, going
    round the image again (as if each were a new plane) once it has made its last row."""
    offsets = struct.pack("<I", 8) * strips
    return tiff([_grey_page(width, height, offsets, strips, rows=1)], shared=bytes(width))


def tiff_tiles(tiles: int, width: int = 32, height: int = 32, side: int = 16) -> bytes:
    """An uncompressed grey TIFF of ``width`` x ``height`` in ``side`` x ``side`` tiles, its TileOffsets listing
    ``tiles`` of them (all one tile of pixels)."""
    offsets = struct.pack("<I", 8) * tiles
    page = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (277, 3, 1, 1),
        (322, 4, 1, side), (323, 4, 1, side), (324, 4, tiles, offsets), (325, 4, 1, side * side),
    ]  # fmt: skip
    return tiff([page], shared=bytes(side * side))


def tiff_strips_on_second_page(strips: int) -> bytes:
    """A TIFF of a 1x1 page then a 1 x (``strips`` - 1) page in one-row strips: ``strips`` uncompressed strips in
    all, none of them decoded by Image.open (it reads the first page only)."""
    rows = strips - 1
    offsets = struct.pack("<I", 8) * rows
    return tiff([_grey_page(1, 1, 8), _grey_page(1, rows, offsets, rows, rows=1)], shared=b"\x80\x00")


def tiff_packbits_strips(pages: int, rows: int, width: int = 16) -> bytes:
    """A TIFF of ``pages`` PackBits pages of ``width`` x ``rows``, in one-row strips: ``pages * rows`` strips (the
    pages share one strip table and one row of pixels)."""
    row = bytes([width - 1]) + bytes(range(width))  # one literal run
    offsets_at = 8 + len(row)
    counts_at = offsets_at + 4 * rows
    shared = row + struct.pack("<I", 8) * rows + struct.pack("<H", len(row)) * rows
    page = [
        (256, 4, 1, width), (257, 4, 1, rows), (258, 3, 1, 8), (259, 3, 1, 32773), (262, 3, 1, 1),
        (273, 4, rows, offsets_at), (277, 3, 1, 1), (278, 4, 1, 1), (279, 3, rows, counts_at),
    ]  # fmt: skip
    return tiff([page] * pages, shared=shared)


# -- BMP -------------------------------------------------------------------------------------------------------


def bmp_rle(width: int, height: int, body: bytes, rle4: bool = False) -> bytes:
    """A palette BMP whose pixels are ``body``, compressed with RLE8 (or RLE4)."""
    colours = 16 if rle4 else 256
    palette = b"".join(bytes((index, index, index, 0)) for index in range(colours))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4 if rle4 else 8, 2 if rle4 else 1, len(body), 0, 0,
                       colours, 0)  # fmt: skip
    return b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset) + info + palette + body


def bmp_rle_escapes(escapes: int) -> bytes:
    """A 1x1 RLE8 BMP whose data starts with ``escapes`` end-of-line escapes: each a Python step, none a pixel."""
    return bmp_rle(1, 1, b"\x00\x00" * escapes + b"\x01\x07\x00\x01")


def bmp_rle_padded_rows(width: int, height: int) -> bytes:
    """An RLE8 BMP of one pixel a row: each end-of-line escape makes the rest of the row one pixel at a time."""
    return bmp_rle(width, height, b"\x01\x07\x00\x00" * height + b"\x00\x01")


def bmp_rle_runs(width: int, height: int, rle4: bool = False) -> bytes:
    """An RLE8 BMP of runs of 255 pixels, what an encoder writes for flat colour (decoded a run at a time), or an
    RLE4 one of runs of 254 (decoded a pixel at a time)."""
    run, colour = (254, 0x12) if rle4 else (255, 7)
    row = bytes((run, colour)) * (width // run) + (bytes((width % run, colour)) if width % run else b"")
    return bmp_rle(width, height, (row + b"\x00\x00") * height + b"\x00\x01", rle4=rle4)


# -- ICC profiles ----------------------------------------------------------------------------------------------


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _f32(*values: float) -> bytes:
    return struct.pack(f">{len(values)}f", *values)


def icc_profile(tags: list[tuple[bytes, bytes]], version: int = 4) -> bytes:
    """An RGB display profile (PCS XYZ, D50 white) with ``tags``: (signature, data)."""
    white = (b"wtpt", b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249))
    return icc(bytes([version, 0x30 if version == 4 else 0x10, 0, 0]), b"mntr", b"RGB ", b"XYZ ", [white, *tags])


def _lut16(grid: int) -> bytes:
    """An A2B0 lut16 (mft2) of 3 inputs, ``grid`` points a side: 6 x grid**3 bytes of table."""
    identity = b"".join(_s15(value) for value in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramp = struct.pack(">HH", 0, 0xFFFF)
    table = struct.pack(">H", 0x8000) * (grid**3 * 3)
    head = b"mft2" + bytes(4) + bytes([3, 3, grid, 0]) + identity + struct.pack(">HH", 2, 2)
    return head + ramp * 3 + table + ramp * 3


def _curve_set(segments: int) -> bytes:
    """A cvst element of 3 identity curves of ``segments`` formula segments each."""
    segment = b"parf" + bytes(4) + struct.pack(">HH", 0, 0) + _f32(1.0, 1.0, 0.0, 0.0)
    breakpoints = _f32(*(index / segments for index in range(1, segments)))
    curve = b"curf" + bytes(4) + struct.pack(">HH", segments, 0) + breakpoints + segment * segments
    positions = b"".join(struct.pack(">II", 12 + 8 * 3 + index * len(curve), len(curve)) for index in range(3))
    return b"cvst" + bytes(4) + struct.pack(">HH", 3, 3) + positions + curve * 3


_MATRIX = b"matf" + bytes(4) + struct.pack(">HH", 3, 3) + _f32(1.0001, 0, 0, 0, 1.0001, 0, 0, 0, 1.0001, 0, 0, 0)


def _mpet(elements: list[bytes]) -> bytes:
    """A multiProcessElements tag: littleCMS evaluates each element at every grid point of a transform."""
    positions, at = b"", 16 + 8 * len(elements)
    for element in elements:
        positions += struct.pack(">II", at, len(element))
        at += len(element)
    return b"mpet" + bytes(4) + struct.pack(">HHI", 3, 3, len(elements)) + positions + b"".join(elements)


def icc_elements(count: int) -> bytes:
    """A profile whose D2B0 (which littleCMS prefers to A2B0) chains ``count`` elements, curves and matrices."""
    elements = [_curve_set(1) if index % 2 == 0 else _MATRIX for index in range(count)]
    return icc_profile([(b"D2B0", _mpet(elements)), (b"A2B0", _lut16(2))])


def icc_segments(segments: int) -> bytes:
    """A profile whose D2B0 is 3 curves of ``segments`` segments in all: littleCMS looks a value's segment up
    one segment at a time."""
    return icc_profile([(b"D2B0", _mpet([_curve_set(max(1, segments // 3))])), (b"A2B0", _lut16(2))])


def icc_large_lut(grid: int) -> bytes:
    """A valid profile made large by its lut16 (``grid`` 112: 8.4 MB; 150: 20 MB)."""
    return icc_profile([(b"A2B0", _lut16(grid))], version=2)


def jpeg_with_icc(profile: bytes, width: int = 64, height: int = 64) -> bytes:
    """A JPEG with ``profile`` embedded (over as many APP2 segments as it needs)."""
    return encode(Image.new("RGB", (width, height), (200, 120, 40)), "JPEG", icc_profile=profile)


def exif_rationals(count: int, tag: int = 0x0112) -> bytes:
    """An EXIF block whose one tag (the orientation, by default) is RATIONAL with ``count`` values: 8 bytes each,
    and a Python object each once Pillow reads the tags."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHLL", tag, 5, count, 26) + struct.pack("<L", 0)
    values = struct.pack(f"<{2 * count}L", *(v for i in range(count) for v in (i * 7 + 3, i * 3 + 2)))
    return b"Exif\x00\x00II*\x00" + struct.pack("<L", 8) + ifd + values


def png_with_exif(exif: bytes) -> bytes:
    """A 16x16 PNG with ``exif`` in an eXIf chunk before its image data."""
    data = encode(Image.new("RGB", (16, 16), "red"), "PNG")
    return data[:33] + png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")) + data[33:]


def jpeg_with_exif(exif: bytes) -> bytes:
    return encode(Image.new("RGB", (16, 16), "red"), "JPEG", exif=exif)


def webp_with_exif(exif: bytes) -> bytes:
    return encode(Image.new("RGB", (16, 16), "red"), "WEBP", exif=exif)


def tiff_rational_tag(count: int) -> bytes:
    """A 2x2 grey TIFF whose XResolution (which Pillow reads while opening) holds ``count`` rationals."""
    values = struct.pack(f"<{2 * count}L", *(v for i in range(count) for v in (i + 72, 1)))
    return tiff([[*_grey_page(2, 2, 8), (282, 5, count, values)]], bytes(4))


def tiff_small_page_then(width: int, height: int) -> bytes:
    """A multi-page TIFF whose first page is 1x1 and whose second is ``width`` x ``height`` (deflated): small,
    and as costly as its largest page."""
    out = io.BytesIO()
    pages = [Image.new("RGB", (1, 1)), Image.new("RGB", (width, height), (10, 20, 30))]
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:], compression="tiff_adobe_deflate")
    return out.getvalue()
