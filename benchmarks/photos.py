"""The benchmark's photographs: real camera photos from a Debian package, and the awkward cases derived from them.

Fetched with ``apt-get download`` (no installation) into ``benchmarks/.cache/`` on first use.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw

CACHE = Path(__file__).resolve().parent / ".cache"
PACKAGES = {"lomiri-wallpapers-20.04": "usr/share/backgrounds", "libgs-common": "usr/share/color/icc/ghostscript"}


def _unpack(package: str) -> Path:
    target = CACHE / package
    if target.exists():
        return target
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["apt-get", "download", package], cwd=download, capture_output=True, text=True)
    debs = sorted(download.glob(f"{package}_*.deb"))
    if not debs:
        raise SystemExit(f"could not download {package} with apt-get (try `apt-get update`): {result.stderr.strip()}")
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(target)], check=True)
    return target


def _save(image: Image.Image, path: Path, fmt: str, **options) -> Path:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    path.write_bytes(out.getvalue())
    return path


def photographs() -> dict[str, Path]:
    """name -> file: four 9-24 MP camera JPEGs, a CMYK JPEG with its profile, an RGBA PNG, an animated GIF and
    an EXIF-rotated photo."""
    backgrounds = _unpack("lomiri-wallpapers-20.04") / PACKAGES["lomiri-wallpapers-20.04"]
    photos = {path.stem.split("_by_")[0].lower(): path for path in sorted(backgrounds.glob("*.jpg"))}
    derived = CACHE / "derived"
    derived.mkdir(exist_ok=True)
    kleiber, painting, fossa = photos["kleiber"], photos["painting-colors"], photos["fossa"]

    cmyk_path = derived / "cmyk-with-profile.jpg"
    if not cmyk_path.exists():
        profile_path = _unpack("libgs-common") / PACKAGES["libgs-common"] / "default_cmyk.icc"
        profile = ImageCms.ImageCmsProfile(str(profile_path))
        rgb = Image.open(kleiber).convert("RGB")
        cmyk = ImageCms.profileToProfile(rgb, ImageCms.createProfile("sRGB"), profile, outputMode="CMYK")
        _save(cmyk, cmyk_path, "JPEG", quality=90, icc_profile=profile_path.read_bytes())

    rgba_path = derived / "rgba-large.png"
    if not rgba_path.exists():
        image = Image.open(painting).convert("RGBA").resize((4000, 2667), Image.Resampling.LANCZOS)
        alpha = Image.linear_gradient("L").rotate(90).resize(image.size)
        image.putalpha(alpha)
        _save(image, rgba_path, "PNG")

    gif_path = derived / "animated.gif"
    if not gif_path.exists():
        source = Image.open(fossa).convert("RGB").resize((2048, 1152))
        frames = [source.crop((i * 100, 0, i * 100 + 1024, 576)) for i in range(10)]
        for i, frame in enumerate(frames):
            ImageDraw.Draw(frame).ellipse((40 + i * 80, 200, 140 + i * 80, 300), fill="white")
        _save(frames[0], gif_path, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)

    rotated_path = derived / "exif-rotated.jpg"
    if not rotated_path.exists():
        exif = Image.Exif()
        exif[0x0112] = 6
        image = Image.open(fossa).convert("RGB").rotate(90, expand=True)
        _save(image, rotated_path, "JPEG", quality=90, exif=exif)

    return {**photos, "cmyk": cmyk_path, "rgba-png": rgba_path, "animated-gif": gif_path, "exif-rotated": rotated_path}
