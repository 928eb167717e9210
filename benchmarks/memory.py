"""Peak memory of each step of the edge pipeline, in bytes a pixel: the measurements behind edge/memory.py.

    python benchmarks/memory.py [--sizes 1,6,24,48] [--only SUBSTRING] [--json FILE] [--summary FILES]

About 45 minutes on one core for every step at the four sizes (the 48 MP WebP and GIF encodes of noise take most
of it); --only runs the groups whose name contains a string (``decode jpeg``, ``encode avif``, ``render``).
--summary prints the table and the fits again from rows --json wrote, with edge/memory.py's model as it is now.

Every measurement runs in a new process: it builds its input (the source's bytes, or the decoded image a step
takes), returns what building it freed to the system (``malloc_trim``), resets its peak RSS (``5`` written to
``/proc/self/clear_refs``), runs one step and reads ``VmHWM``. The step's peak is that high-water mark less the
RSS before the step, so neither the interpreter, the imports nor the input count. Where the peak cannot be reset
(no ``clear_refs``), the baseline is the high-water mark after building the input, which over-states the step.

Steps, as ``render()`` runs them: decode (``_open``, JPEG shrink-on-load, ``_decode`` with its normalisation;
per source format and mode; JPEG at each DCT scale), resize (Lanczos, RGB/RGBA/L, contain and cover, at several
scales), the sRGB conversion (a copy or in place), encode (per output format, on smooth and noisy pixels),
animations (``_animation``: frames decoded, resized and kept for the encoder), whole renders (to check the
model), and the runtime's own baseline (the handler and an S3 client imported in a fresh process).

Sources are made once and kept in benchmarks/.cache/memory/. Each row shows what edge/memory.py's model allows
for it (``model``: the step's own factors; for a render, the whole estimate less the source's bytes, which the
measured baseline holds). The summary fits each group as ``fixed + per_pixel * pixels``: the slope of its two
largest runs and the fixed bytes that then bound every run; and gives model/measured over the group's rows
(``UNDER`` if the model is below any of them).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import inspect
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "memory"
ADOBE_RGB = ROOT / "tests" / "edge" / "data" / "compatibleWithAdobeRGB1998.icc"
MB = 1_000_000
MIB = 1 << 20


# -- the child: one measurement ---------------------------------------------------------------------------------
def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {key: int(re.search(key + r":\s+(\d+)", text).group(1)) * 1024 for key in ("VmRSS", "VmHWM")}


def _settle() -> bool:
    """Free what building the input left behind and reset the peak; False when the peak cannot be reset."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _size(megapixels: float, ratio: float = 1.5) -> tuple[int, int]:
    width = round(math.sqrt(megapixels * MB * ratio))
    return width, max(1, round(width / ratio))


def _pixels(mode: str, size: tuple[int, int], content: str) -> Any:
    """A decoded image: ``smooth`` (gradients and flat shapes, as photographs compress) or ``noise``."""
    from PIL import Image, ImageDraw

    if content == "noise":
        bands = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "CMYK": 4, "P": 1, "I;16": 2, "F": 4, "1": 1}
        raw_mode = {"1": "L", "F": "L"}.get(mode, mode)
        image = Image.frombytes(raw_mode, size, os.urandom(size[0] * size[1] * bands[raw_mode]))
        if mode == "1":
            return image.convert("1")
        if mode == "F":
            return image.convert("F").point(lambda v: v * 1000.0)
        if mode == "P":
            image.putpalette(os.urandom(768))
        return image
    gradient = Image.linear_gradient("L").resize(size)
    other = gradient.transpose(Image.Transpose.ROTATE_180)
    if mode in ("RGB", "RGBA", "CMYK"):
        image = Image.merge("RGB", (gradient, other, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        draw = ImageDraw.Draw(image)
        draw.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill=(200, 40, 90))
        if mode == "RGBA":
            image.putalpha(other)
        return image.convert("CMYK") if mode == "CMYK" else image
    if mode == "LA":
        return Image.merge("LA", (gradient, other))
    if mode == "P":
        return Image.merge("RGB", (gradient, other, gradient)).convert("P", palette=Image.Palette.ADAPTIVE)
    if mode == "I;16":
        return gradient.convert("I").point(lambda v: v * 257).convert("I;16")
    if mode == "F":
        return gradient.convert("F").point(lambda v: v * 1000.0)
    if mode == "1":
        return gradient.convert("1")
    return gradient


#: Source kinds: (Pillow format, mode to write, save options).
SOURCES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "jpeg-rgb": ("JPEG", "RGB", {"quality": 90}),
    "jpeg-rgb-progressive": ("JPEG", "RGB", {"quality": 90, "progressive": True}),
    "jpeg-rgb444-progressive": ("JPEG", "RGB", {"quality": 90, "progressive": True, "subsampling": 0}),
    "jpeg-l": ("JPEG", "L", {"quality": 90}),
    "jpeg-l-progressive": ("JPEG", "L", {"quality": 90, "progressive": True}),
    "jpeg-cmyk": ("JPEG", "CMYK", {"quality": 90}),
    "jpeg-cmyk-progressive": ("JPEG", "CMYK", {"quality": 90, "progressive": True}),
    "png-rgb": ("PNG", "RGB", {"compress_level": 1}),
    "png-rgba": ("PNG", "RGBA", {"compress_level": 1}),
    "png-l": ("PNG", "L", {"compress_level": 1}),
    "png-la": ("PNG", "LA", {"compress_level": 1}),
    "png-p": ("PNG", "P", {"compress_level": 1}),
    "png-p-transparency": ("PNG", "P", {"compress_level": 1, "transparency": 0}),
    "png-i16": ("PNG", "I;16", {"compress_level": 1}),
    "png-1": ("PNG", "1", {"compress_level": 1}),
    "webp-rgb": ("WEBP", "RGB", {"quality": 80, "method": 0}),
    "webp-rgba": ("WEBP", "RGBA", {"quality": 80, "method": 0}),
    "avif-rgb": ("AVIF", "RGB", {"quality": 60, "speed": 10}),
    "avif-rgba": ("AVIF", "RGBA", {"quality": 60, "speed": 10}),
    "gif-p": ("GIF", "P", {}),
    "tiff-rgb": ("TIFF", "RGB", {}),
    "tiff-rgb-deflate": ("TIFF", "RGB", {"compression": "tiff_adobe_deflate"}),
    "tiff-cmyk": ("TIFF", "CMYK", {}),
    "tiff-i16": ("TIFF", "I;16", {}),
    "tiff-f": ("TIFF", "F", {}),
    "bmp-rgb": ("BMP", "RGB", {}),
}


def source_path(kind: str, megapixels: float, content: str) -> Path:
    return CACHE / f"{kind}-{megapixels:g}mp-{content}.{SOURCES[kind][0].lower()}"


def _make_source(job: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    fmt, mode, options = SOURCES[job["kind"]]
    path = Path(job["path"])
    image = _pixels(mode, _size(job["mp"]), job["content"])
    if job["content"] == "smooth" and fmt == "GIF":
        image = image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path.with_suffix(".tmp"), fmt, **options)
    path.with_suffix(".tmp").rename(path)
    return {"bytes": path.stat().st_size}


def _make_animation(job: dict[str, Any]) -> dict[str, Any]:
    from PIL import Image

    size, count = _size(job["frame_mp"]), job["frames"]
    base = _pixels("RGB", size, job["content"])
    frames = [base.rotate(index * 7, fillcolor=(index * 37 % 256, 90, 120)) for index in range(count)]
    if job["content"] == "noise":  # every frame its own noise: nothing to reuse from the previous one
        frames = [_pixels("RGB", size, "noise") for _ in range(count)]
    if job["fmt"] == "GIF":
        frames = [frame.convert("P", palette=Image.Palette.ADAPTIVE) for frame in frames]
    options = {
        "WEBP": {"quality": 80, "method": 0},
        "AVIF": {"quality": 60, "speed": 10},
        "PNG": {"compress_level": 1},
    }.get(job["fmt"], {})
    path = Path(job["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        path.with_suffix(".tmp"), job["fmt"], save_all=True, append_images=frames[1:], duration=80, loop=0, **options
    )
    path.with_suffix(".tmp").rename(path)
    return {"bytes": path.stat().st_size}


def _opened(result: Any) -> Any:
    """``_open``'s image (it may also return what it screened)."""
    return result[0] if isinstance(result, tuple) else result


# Each step, run on its input: (what it holds, so that it is measured, and what it reports about its run).
def _decode_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline

    info: dict[str, Any] = {}
    opened = _opened(pipeline._open(data, limits))
    info["source_px"] = opened.width * opened.height
    out = (max(1, math.ceil(opened.width * job["scale"])), max(1, math.ceil(opened.height * job["scale"])))
    opened = pipeline._shrink_on_load(opened, out, opened.size)
    decoded = pipeline._decode(opened)
    info.update(decoded_px=decoded.image.width * decoded.image.height, mode=decoded.image.mode)
    info["raw_mode"] = opened.mode
    return (opened, decoded), info


def _resize_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline
    from imagevariants.edge.spec import Spec

    out = (max(1, round(image.width * job["scale"])), max(1, round(image.height * job["scale"])))
    if job.get("fit") == "cover":  # a square crop of the box's size
        out = (min(out), min(out))
        spec = Spec(out[0], out[1], fit="cover")
    return pipeline._resize(image, out, spec), {"decoded_px": image.width * image.height, "output_px": out[0] * out[1]}


def _srgb_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline

    return pipeline._to_srgb(image, profile, job["owned"]), {"output_px": image.width * image.height}


def _encode_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline

    held = pipeline._encode(image, job["fmt"], spec)
    return held, {"output_px": image.width * image.height, "out_bytes": len(held)}


def _animation_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline
    from imagevariants.edge.limits import Deadline

    opened = _opened(pipeline._open(data, limits))
    frames = getattr(opened, "n_frames", 1)
    out = (max(1, round(opened.width * job["scale"])), max(1, round(opened.height * job["scale"])))
    args: list[Any] = [opened, out, job["fmt"], spec, limits.max_source_pixels, (0.5, 0.5)]
    if "deadline" in inspect.signature(pipeline._animation).parameters:
        args.append(Deadline(float("inf")))
    encoded = pipeline._animation(*args)
    info = {"frames": frames, "frame_px": opened.width * opened.height, "output_px": out[0] * out[1]}
    info["out_bytes"] = len(encoded)
    return (opened, encoded), info  # the source image stays open until the step is measured


def _render_step(job: dict[str, Any], data: bytes, image: Any, spec: Any, profile: Any, limits: Any) -> Any:
    from imagevariants.edge import pipeline

    pipeline.decode_cache.clear()
    held = pipeline.render(data, spec, limits)
    return held, {"output_px": held.width * held.height, "out_bytes": len(held.data)}


_STEPS = {
    "decode": _decode_step,
    "resize": _resize_step,
    "srgb": _srgb_step,
    "encode": _encode_step,
    "animation": _animation_step,
    "render": _render_step,
}


def _measure(job: dict[str, Any]) -> dict[str, Any]:
    """Build the input, reset the peak, run the step; the peak and what the step still holds, in bytes."""
    from imagevariants.edge import pipeline
    from imagevariants.edge.limits import Limits
    from imagevariants.edge.spec import Spec

    limits = Limits(max_source_bytes=1 << 30, max_source_pixels=100_000_000, memory_mb=10240)
    step = job["step"]
    data = Path(job["source"]).read_bytes() if "source" in job else b""
    image = None
    if step in ("resize", "srgb", "encode"):
        image = _pixels(job["mode"], tuple(job["size"]), job.get("content", "smooth"))
    profile = None
    if step == "srgb":  # the transform is cached per container: build it first, as a warm container has it
        profile = _cmyk_profile() if job["mode"] == "CMYK" else ADOBE_RGB.read_bytes()
        pipeline._transform(profile, job["mode"])
    spec = Spec(
        job.get("width", 8192),
        job.get("height") or (job.get("width", 8192) if job.get("fit") == "cover" else None),
        fit=job.get("fit", "contain"),
        quality=job.get("quality", 80),
        format=job.get("fmt"),
    )
    if step == "encode" and job["fmt"] == "avif":  # the AV1 encoder's code and tables, loaded once a container
        pipeline._encode(pipeline.Image.new("RGB", (64, 64)), "avif", spec)
    reset = _settle()
    before = _status()
    if not reset:
        before["VmRSS"] = before["VmHWM"]
    started = time.perf_counter()
    held, info = _STEPS[step](job, data, image, spec, profile, limits) if step in _STEPS else (None, {})
    seconds = time.perf_counter() - started
    after = _status()
    return {
        "peak": after["VmHWM"] - before["VmRSS"],
        "held": after["VmRSS"] - before["VmRSS"],
        "seconds": round(seconds, 2),
        "reset": reset,
        "source_bytes": len(data),
        **info,
    }


def _baseline(job: dict[str, Any]) -> dict[str, Any]:
    """The process before any render: the interpreter, the handler's imports and one S3 client."""
    result = {"interpreter": _status()["VmHWM"]}
    import imagevariants.edge.handler  # noqa: F401

    result["handler"] = _status()["VmHWM"]
    if job.get("boto3"):
        from imagevariants.edge.store import s3_client

        s3_client("us-east-1")
        result["s3_client"] = _status()["VmHWM"]
    return result


def _cmyk_profile() -> bytes:
    sys.path.insert(0, str(ROOT))
    from tests.images import cmyk_profile

    return cmyk_profile(lambda c, m, y, k: (100 - 60 * max(c, m, y, k), 20 * m - 20 * c, 30 * y - 10 * m))


def child(job: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    if job["step"] == "make-source":
        return _make_source(job)
    if job["step"] == "make-animation":
        return _make_animation(job)
    if job["step"] == "baseline":
        return _baseline(job)
    return _measure(job)


# -- the parent: the plan, the table, the fit -------------------------------------------------------------------
def run(job: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{job}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def source(kind: str, megapixels: float, content: str = "smooth") -> str:
    path = source_path(kind, megapixels, content)
    if not path.exists():
        run({"step": "make-source", "kind": kind, "mp": megapixels, "content": content, "path": str(path)})
    return str(path)


def animation(fmt: str, frames: int, frame_mp: float, content: str) -> str:
    path = CACHE / f"anim-{fmt.lower()}-{frames}x{frame_mp:g}mp-{content}.{fmt.lower()}"
    if not path.exists():
        job = {"step": "make-animation", "fmt": fmt, "frames": frames, "frame_mp": frame_mp, "content": content}
        run({**job, "path": str(path)})
    return str(path)


Jobs = list[tuple[str, dict[str, Any]]]


def _decode_jobs(sizes: list[float]) -> Jobs:
    """Every source kind (noise too for one kind of each format), JPEG at each DCT scale."""
    jobs: Jobs = []
    for kind in SOURCES:
        scales = (1.0, 0.5, 0.25, 0.125) if kind.startswith("jpeg") else (1.0,)
        contents = ("smooth", "noise") if kind in ("jpeg-rgb", "png-rgb", "webp-rgb", "avif-rgb") else ("smooth",)
        for mp in sizes:
            for content in contents:
                for scale in scales:
                    job = {"step": "decode", "kind": kind, "mp": mp, "content": content, "scale": scale}
                    jobs.append((f"decode {kind}", job))
    return jobs


def _resize_jobs(sizes: list[float]) -> Jobs:
    jobs: Jobs = []
    for mode in ("RGB", "RGBA", "L"):
        for mp in sizes:
            for scale in (0.97, 0.7, 0.5, 0.26, 0.24, 0.1):
                jobs.append((f"resize {mode}", {"step": "resize", "mode": mode, "mp": mp, "scale": scale}))
            cover = {"step": "resize", "mode": mode, "mp": mp, "scale": 0.97, "fit": "cover"}
            jobs.append((f"resize {mode} cover", cover))
    return jobs


def _srgb_jobs(sizes: list[float]) -> Jobs:
    jobs: Jobs = []
    for mode, owned in (("RGB", True), ("RGB", False), ("RGBA", False), ("CMYK", False)):
        for mp in sizes:
            job = {"step": "srgb", "mode": mode, "mp": mp, "owned": owned}
            jobs.append((f"srgb {mode}{' in place' if owned else ''}", job))
    return jobs


def _encode_jobs(sizes: list[float]) -> Jobs:
    jobs: Jobs = []
    for fmt in ("jpeg", "png", "webp", "avif", "gif"):
        for mode in ("RGB", "RGBA", "L"):
            for content in ("smooth", "noise"):
                for mp in sizes:
                    job = {"step": "encode", "fmt": fmt, "mode": mode, "mp": mp, "content": content}
                    jobs.append((f"encode {fmt} {mode}", job))
                    if fmt in ("jpeg", "webp", "avif") and content == "noise":  # the largest output
                        jobs.append((f"encode {fmt} {mode} q100", {**job, "quality": 100}))
    return jobs


def _animation_jobs(sizes: list[float]) -> Jobs:
    jobs: Jobs = []
    for source_fmt in ("GIF", "WEBP", "AVIF", "PNG"):
        for frames, frame_mp in ((2, max(sizes) / 4), (4, 6), (10, 1), (50, 0.5), (300, 0.1)):
            contents = ("smooth", "noise") if source_fmt in ("WEBP", "PNG") and frames in (4, 50) else ("smooth",)
            for content in contents:
                for fmt, scale in (("gif", 1.0), ("webp", 1.0), ("avif", 1.0), ("webp", 0.5), ("avif", 0.25)):
                    anim = [source_fmt, frames, frame_mp, content]
                    job = {"step": "animation", "anim": anim, "fmt": fmt, "scale": scale, "content": content}
                    jobs.append((f"animation {source_fmt.lower()} to {fmt}", job))
    return jobs


def _render_jobs(sizes: list[float]) -> Jobs:
    """Whole renders, to check the model: those of the sizes measured."""
    jobs: Jobs = []
    big = max(sizes)
    renders = [
        ("jpeg-rgb", 6, "noise", {"fmt": "jpeg", "width": 8192}),
        ("jpeg-rgb", 6, "noise", {"fmt": "webp", "width": 8192}),
        ("jpeg-rgb", 6, "noise", {"fmt": "avif", "width": 8192}),
        ("jpeg-rgb", 24, "noise", {"fmt": "jpeg", "width": 8192}),
        ("jpeg-rgb", 24, "noise", {"fmt": "webp", "width": 8192}),
        ("jpeg-rgb", 24, "noise", {"fmt": "avif", "width": 8192}),
        ("jpeg-rgb", 24, "noise", {"fmt": "avif", "width": 1920}),
        ("jpeg-rgb", 24, "noise", {"fmt": "jpeg", "width": 640}),
        ("jpeg-rgb-progressive", 24, "smooth", {"fmt": "webp", "width": 640}),
        ("jpeg-cmyk-progressive", 24, "smooth", {"fmt": "jpeg", "width": 5900}),
        ("png-rgb", big, "smooth", {"fmt": "avif", "width": 8192}),
        ("png-rgb", big, "noise", {"fmt": "avif", "width": 8192}),
        ("png-rgb", big, "smooth", {"fmt": "png", "width": 8192}),
        ("png-rgba", big, "smooth", {"fmt": "avif", "width": 8000}),
        ("png-rgba", big, "smooth", {"fmt": "jpeg", "width": 8000, "height": 5000, "fit": "cover"}),
        ("png-p", 24, "smooth", {"fmt": "gif", "width": 5900}),
        ("webp-rgb", big, "smooth", {"fmt": "avif", "width": 8192}),
        ("webp-rgba", big, "noise", {"fmt": "avif", "width": 8192}),
        ("webp-rgba", big, "noise", {"fmt": "webp", "width": 8192}),
        ("tiff-i16", 24, "smooth", {"fmt": "png", "width": 5900}),
    ]
    for kind, mp, content, spec in renders:
        if mp in sizes:
            job = {"step": "render", "kind": kind, "mp": mp, "content": content, **spec}
            jobs.append((f"render {kind} to {spec['fmt']}", job))
    return jobs


def plan(sizes: list[float]) -> Jobs:
    """Every measurement: (group, job). Sources are made when first needed."""
    groups = (_decode_jobs, _resize_jobs, _srgb_jobs, _encode_jobs, _animation_jobs, _render_jobs)
    return [job for group in groups for job in group(sizes)]


def prepare(job: dict[str, Any]) -> dict[str, Any]:
    job = dict(job)
    if job["step"] in ("decode", "render"):
        job["source"] = source(job["kind"], job["mp"], job["content"])
    elif job["step"] == "animation":
        job["source"] = animation(*job["anim"])
    elif "mp" in job:
        job["size"] = _size(job["mp"])
    return job


def model(row: dict[str, Any]) -> float | None:
    """What edge/memory.py allows for the step this row measured (its input and the source's bytes excluded)."""
    from imagevariants.edge import memory

    step = row["step"]
    if step == "decode":
        fmt = SOURCES[row["kind"]][0]
        multiscan = "progressive" in row["kind"]
        return memory.decode_bytes(fmt, row["raw_mode"], row["source_px"], row["decoded_px"], multiscan)[0]
    if step == "resize":
        return memory.resize_bytes(row["mode"], row["decoded_px"], row["output_px"])
    if step == "srgb":
        return 0.0 if row["owned"] else memory.FACTORS["srgb"] * row["output_px"]
    if step == "encode":
        return memory.encode_bytes(row["mode"], row["output_px"], row["fmt"])
    if step == "animation":
        source_format = row["anim"][0]
        bytes_ = memory.animation_bytes(source_format, row["frame_px"], row["output_px"], row["fmt"], row["frames"])
        return bytes_ + row["source_bytes"]
    if step == "render":
        return estimate_for(row) - row["source_bytes"]  # the source's bytes are in the measured baseline
    return None


def estimate_for(row: dict[str, Any]) -> int:
    """edge/memory.py's estimate for a whole render, from what the source's header says."""
    from PIL import Image

    from imagevariants.edge import memory, pipeline
    from imagevariants.edge.spec import Spec

    with Image.open(row["source"]) as image:
        spec = Spec(row["width"], row.get("height"), fit=row.get("fit", "contain"), format=row["fmt"])
        out = pipeline.output_size(image.width, image.height, spec)
        source_mode, source_pixels = image.mode, image.width * image.height
        image = pipeline._shrink_on_load(image, out, image.size)
        return memory.estimate_peak_bytes(
            source_format=image.format,
            source_mode=source_mode,
            source_pixels=source_pixels,
            decoded_pixels=image.width * image.height,
            output_pixels=out[0] * out[1],
            fmt=row["fmt"],
            source_bytes=row["source_bytes"],
            multiscan=bool(image.info.get("progressive")),
            icc_profile=bool(image.info.get("icc_profile")),
            transposed=pipeline._orientation(image) in pipeline._UPRIGHT,
        )


def fit(rows: list[dict[str, Any]], x: str) -> tuple[float, float]:
    """``fixed + per_pixel * row[x]`` at or above every row: the slope of the two largest runs, and the fixed
    bytes that then bound every run (the smaller runs' overheads)."""
    rows = sorted(rows, key=lambda row: row[x])
    small, large = rows[-2:] if len(rows) > 1 else (None, rows[-1])
    per_pixel = large["peak"] / large[x]
    if small is not None and large[x] > small[x]:
        per_pixel = max(0.0, (large["peak"] - small["peak"]) / (large[x] - small[x]))
    return max(0.0, max(row["peak"] - per_pixel * row[x] for row in rows)), per_pixel


def summary(rows: list[dict[str, Any]]) -> None:
    """The fitted factors of each group, and how far edge/memory.py's model is above the measurements."""
    print("\n| group | x | fixed (MiB) | bytes per x | model/measured (min-max) |\n|---|---|---|---|---|")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for group, members in groups.items():
        step = members[0]["step"]
        x = {"decode": "decoded_px", "resize": "decoded_px", "animation": "frame_px"}.get(step, "output_px")
        fitted = [row for row in members if row.get("scale", 1.0) == 1.0 or step == "resize"]
        if step == "resize":
            fitted = [row for row in members if row["scale"] == 0.97]
        fixed, per = fit(fitted, x) if fitted and step not in ("animation", "render") else (0.0, 0.0)
        ratios = [row["model"] / row["peak"] for row in members if row.get("model") and row["peak"] > 0]
        span = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else ""
        if ratios and min(ratios) < 1:
            span += " UNDER"
        fits = f"| {fixed / MIB:.1f} | {per:.2f} " if per else "| | "
        print(f"| {group} | {x if per else ''} {fits}| {span} |")
    coefficient = [
        (row["peak"] - row["held"]) / (row["source_px"] * {"jpeg-l": 1, "jpeg-cmyk": 4}.get(row["kind"][:9], 3))
        for row in rows
        if row["step"] == "decode" and "progressive" in row["kind"]
    ]
    if coefficient:
        print(f"\nmulti-scan JPEG coefficients: at most {max(coefficient):.2f} bytes per source pixel and component")
    held = [row["held"] / row["decoded_px"] for row in rows if row["step"] == "decode" and row["decoded_px"] >= 4 * MB]
    if held:
        print(f"decoded and held (4 MP and more): {min(held):.2f}-{max(held):.2f} bytes per decoded pixel")


HEADER = (
    "\nPeak of each step beside its input (MiB); per px: bytes per input (decoded or frame) or output pixel; "
    "model: what edge/memory.py allows for the step.\n\n"
    "| group | MP | content | scale/q/anim | peak | held | per px in | per px out | model | s |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def line(row: dict[str, Any]) -> str:
    inp = row.get("decoded_px") or row.get("frame_px") or 0
    out = row.get("output_px", 0)
    per_in = f"{row['peak'] / inp:.2f}" if inp else ""
    per_out = f"{row['peak'] / out:.2f}" if out else ""
    detail = row.get("anim") or row.get("quality") or row.get("scale", "")
    if row["step"] == "render":
        detail = f"{row['width']}{'x' + str(row['height']) if row.get('height') else ''}"
    modelled = f"{row['model'] / MIB:.1f}" if row["model"] is not None else ""
    return (
        f"| {row['group']} | {row.get('mp', '')} | {row.get('content', '')} | {detail} | {row['peak'] / MIB:.1f} "
        f"| {row['held'] / MIB:.1f} | {per_in} | {per_out} | {modelled} | {row['seconds']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,6,24,48", help="source megapixels, comma-separated")
    parser.add_argument("--only", default="", help="run the groups whose name contains this")
    parser.add_argument("--json", default="", help="also write every row to this file")
    parser.add_argument(
        "--summary",
        default="",
        help="only print the table and fits of the rows that --json wrote (files, comma-separated)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(ROOT))
    if args.summary:  # the table and the fits again, with the model as it is now
        measured = {}  # a later file's row replaces an earlier one of the same measurement
        for name in args.summary.split(","):
            for row in json.loads(Path(name).read_text())["rows"]:
                job = {key: row.get(key) for key in ("group", "mp", "content", "scale", "quality", "anim", "fit")}
                measured[json.dumps({**job, "spec": [row.get("width"), row.get("height"), row.get("fmt")]})] = row
        rows = list(measured.values())
        print(HEADER)
        for row in rows:
            row["model"] = model(row)
            print(line(row))
        summary(rows)
        return
    sizes = [float(size) for size in args.sizes.split(",")]
    base = run({"step": "baseline", "boto3": True})
    print(f"Python {sys.version.split()[0]}, peak RSS of a fresh process\n\n| after | RSS (MiB) |\n|---|---|")
    for name, value in base.items():
        print(f"| {name} | {value / MIB:.1f} |")
    rows = []
    print(HEADER)
    failed = []
    for group, job in plan(sizes):
        if args.only not in group:
            continue
        try:
            job = prepare(job)
            row = {"group": group, **job, **run(job)}
        except RuntimeError as exc:  # one step that cannot run (a pipeline being changed) must not lose the rest
            failed.append(f"{group}: {str(exc).strip().splitlines()[-1]}")
            continue
        row["model"] = model(row)
        rows.append(row)
        if args.json:
            Path(args.json).write_text(json.dumps({"baseline": base, "rows": rows}, indent=1))
        print(line(row), flush=True)
    summary(rows)
    for failure in failed:
        print(f"FAILED {failure}")


if __name__ == "__main__":
    main()
