"""How long a render will take, estimated before it starts from what the file's header says.

Pillow's steps cannot be interrupted once started, so the deadline is kept by not starting work that cannot
finish: the estimate is checked against the time the request has left. The factors are nanoseconds per pixel,
measured on noisy pictures (the worst case for every encoder) on one core by benchmarks/cost.py, then multiplied
by ``SAFETY`` for slower CPUs (a 1536 MB Lambda function has a little less than one core).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Nanoseconds per decoded pixel, by source format (a JPEG's progressive scans are counted apart).
DECODE_NS = {"JPEG": 8, "MPO": 8, "PNG": 25, "GIF": 10, "WEBP": 55, "AVIF": 55, "TIFF": 60, "BMP": 25}
DECODE_NS_OTHER = 60
#: Nanoseconds per source pixel for each scan of a progressive JPEG after the first (1.5 measured on 64 repeated
#: scans of a 49 MP photo, doubled): every scan's entropy-coded data covers the whole image whatever the scale.
SCAN_NS = 3
#: Nanoseconds per decoded pixel to resize (Lanczos; the worst case is a size barely under the source's).
RESIZE_NS = 36
#: Nanoseconds per output pixel to convert colours to sRGB and encode, by output format (AVIF by encoder speed).
ENCODE_NS = {"jpeg": 35, "png": 700, "webp": 230, "gif": 200}
AVIF_ENCODE_NS = {6: 2200, 8: 720, 9: 270}
#: Seconds of overhead per animation frame (seeking, disposal, a frame object), beside its pixels.
FRAME_SECONDS = 0.0015
SAFETY = 1.5
#: The most one render may take, in seconds: the origin-response trigger's 30 s less the S3 read and write and
#: the handler's margin. A render estimated over it is refused (413), whatever the time left.
MAX_RENDER_SECONDS = 20.0


@dataclass(frozen=True)
class Work:
    """What a render will do, known after the header is read and the decode size chosen."""

    source_format: str
    source_pixels: int  # of one frame, as stored
    decoded_pixels: int  # of one frame, after shrink-on-load
    output_pixels: int  # of one frame
    output_format: str
    frames: int = 1
    scans: int = 1  # of a progressive JPEG
    avif_speed: int = 9


def estimate_seconds(work: Work) -> float:
    """The render's estimated duration in seconds (with the safety factor)."""
    decode = work.decoded_pixels * DECODE_NS.get(work.source_format, DECODE_NS_OTHER)
    decode += max(0, work.scans - 1) * work.source_pixels * SCAN_NS
    resize = work.decoded_pixels * RESIZE_NS
    if work.output_format == "avif":
        encode_ns = AVIF_ENCODE_NS.get(work.avif_speed, max(AVIF_ENCODE_NS.values()))
    else:
        encode_ns = ENCODE_NS.get(work.output_format, max(ENCODE_NS.values()))
    encode = work.output_pixels * encode_ns
    per_frame = (decode + resize + encode) / 1e9 + (FRAME_SECONDS if work.frames > 1 else 0.0)
    return SAFETY * per_frame * work.frames
