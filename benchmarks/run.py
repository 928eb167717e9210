"""Benchmark: imagevariants' edge pipeline against sharp on real photographs, side by side in one run.

    python benchmarks/run.py [--quick] [--avif-photos N] [--rounds N]

Needs Node.js and npm (sharp is installed here by the benchmark), apt-get (the photographs come from Debian
packages) and numpy. Each library runs in its own process pinned to one core; every variant is made from the
source bytes, as each first request is at the edge. Prints a Markdown report and writes it to
benchmarks/results/latest.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from shutil import which

import numpy as np
from PIL import Image, ImageCms, ImageOps

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from photos import photographs  # noqa: E402

from imagevariants.edge.limits import Limits  # noqa: E402

BENCH_LIMITS = Limits(max_source_bytes=200 << 20, max_source_pixels=100_000_000)

WIDTHS = (320, 640, 1280, 1920)
QUALITY = 80
PEERS = ("easy-thumbnails", "sorl-thumbnail")  # the Django thumbnailers our users come from (JPEG rows)


def jobs_for(photos: dict[str, Path], formats: tuple[str, ...], avif_photos: int) -> list[dict]:
    jobs = []
    for format_ in formats:
        names = list(photos)[:avif_photos] if format_ == "avif" else list(photos)
        for name in names:
            for width in WIDTHS:
                jobs.append(
                    {"id": f"{name}-{width}-{format_}", "photo": name, "source": str(photos[name]), "width": width,
                     "format": format_, "quality": QUALITY}
                )  # fmt: skip
    return jobs


def run_worker(command: list[str], env: dict | None = None) -> dict:
    """Run one worker pinned to core 0 (taskset) and return its JSON (results and its own peak RSS)."""
    pinned = ["taskset", "-c", "0", *command] if which("taskset") else command
    result = subprocess.run(pinned, capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(f"{command[0]} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


_SRGB = ImageCms.createProfile("sRGB")


def reference(source: Path, size: tuple[int, int]) -> np.ndarray:
    """A high-quality downscale: full decode, orientation, colour via the embedded profile, plain Lanczos."""
    image = Image.open(source)
    image.seek(0)
    image = ImageOps.exif_transpose(image)
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "CMYK"):
        image = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), _SRGB,
                                          outputMode="RGB")  # fmt: skip
    image = _flat(image)
    return _luma(image.resize(size, Image.Resampling.LANCZOS))


def _flat(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        base = Image.new("RGB", image.size, "white")
        base.paste(image, mask=image.getchannel("A"))
        return base
    return image.convert("RGB")


def _luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def _box(values: np.ndarray, radius: int = 3) -> np.ndarray:
    padded = np.pad(values, radius, mode="reflect")
    summed = padded.cumsum(0).cumsum(1)
    summed = np.pad(summed, ((1, 0), (1, 0)))
    k = 2 * radius + 1
    return (summed[k:, k:] - summed[:-k, k:] - summed[k:, :-k] + summed[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM on luma with a 7x7 window (Wang et al. 2004 constants)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _box(a), _box(b)
    var_a = _box(a * a) - mu_a**2
    var_b = _box(b * b) - mu_b**2
    cov = _box(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def quality(result: dict, source: str) -> float:
    output = Image.open(result["file"])
    output.seek(0)
    return ssim(_luma(_flat(output)), reference(Path(source), output.size))


def avif_ladder(photo: Path, width: int = 1920) -> list[dict]:
    """The cost of our AVIF speed choice: one variant encoded at libaom speeds 4 (sharp's default effort) to 9."""
    from imagevariants.edge import pipeline
    from imagevariants.edge.spec import Spec

    data = photo.read_bytes()
    rows = []
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})  # one core, as the workers
    for speed in (4, 6, 7, 8, 9):
        original = pipeline.AVIF_SPEEDS, pipeline.AVIF_FASTEST
        pipeline.AVIF_SPEEDS, pipeline.AVIF_FASTEST = (), speed
        try:
            pipeline.decode_cache.clear()
            started = time.perf_counter()
            made = pipeline.render(data, Spec(width, format="avif"), BENCH_LIMITS)
            seconds = time.perf_counter() - started
        finally:
            pipeline.AVIF_SPEEDS, pipeline.AVIF_FASTEST = original
        output = Image.open(io.BytesIO(made.data))
        score = ssim(_luma(_flat(output)), reference(photo, output.size))
        rows.append({"speed": speed, "seconds": seconds, "bytes": len(made.data), "ssim": score})
    os.sched_setaffinity(0, affinity)
    return rows


def worst_cases(photos: dict[str, Path], tmp: str) -> dict[str, dict]:
    """Full-size variants of the largest photograph, each in a new process: peak RSS and time of the worst request."""
    name, path = max(((n, p) for n, p in photos.items() if p.suffix == ".jpg"), key=lambda item: _pixels(item[1]))
    width = Image.open(path).width
    found = {}
    for format_ in ("jpeg", "webp", "avif"):
        job = {"id": f"{name}-{width}-{format_}", "photo": name, "source": str(path), "width": width,
               "format": format_, "quality": QUALITY}  # fmt: skip
        jobs_path = Path(tmp) / f"worst-{format_}.json"
        jobs_path.write_text(json.dumps([job]))
        out = Path(tmp) / "worst"
        out.mkdir(exist_ok=True)
        result = run_worker([sys.executable, str(HERE / "ours_worker.py"), str(jobs_path), str(out), "--cold"])
        found[format_] = {**result["results"][0], "rss_kib": result["rss_kib"], "megapixels": _pixels(path) / 1e6}
        if format_ != "avif":  # sharp's default AVIF effort would take minutes here
            env = {**os.environ, "UV_THREADPOOL_SIZE": "1", "VIPS_CONCURRENCY": "1"}
            theirs = run_worker(["node", str(HERE / "sharp_worker.mjs"), str(jobs_path), str(out)], env)
            found[format_]["sharp"] = {**theirs["results"][0], "rss_kib": theirs["rss_kib"]}
    return found


def fastest(runs: list[dict]) -> dict:
    """Merge a worker's runs: each request's fastest time (outputs are identical), the highest peak RSS."""
    merged = {**runs[0], "rss_kib": max(run["rss_kib"] for run in runs)}
    merged["results"] = [
        {**first, "seconds": min(run["results"][index]["seconds"] for run in runs)} if "error" not in first else first
        for index, first in enumerate(runs[0]["results"])
    ]
    return merged


def _peer_rows(theirs: dict, cold: dict, by_id: dict[str, dict]) -> list[dict]:
    """A Django thumbnailer's JPEG results beside ours (cold), with both outputs' SSIM."""
    ours_by_id = {result["id"]: result for result in cold["results"]}
    rows = []
    for result in theirs["results"]:
        ours = ours_by_id[result["id"]]
        row = {"id": result["id"], "theirs": result, "ours": ours}
        if "error" not in result:
            source = by_id[result["id"]]["source"]
            row.update(theirs_ssim=quality(result, source), ours_ssim=quality(ours, source))
        rows.append(row)
    return rows


def _pixels(path: Path) -> int:
    width, height = Image.open(path).size
    return width * height


def handler_end_to_end(photo: Path) -> dict[str, float]:
    """The Lambda entry point against a moto S3 server: cold import time and a first (generating) request."""
    code = "import time; t = time.perf_counter(); import imagevariants.edge.handler; print(time.perf_counter() - t)"
    imports = [
        float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        for _ in range(5)
    ]
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(
        AWS_ENDPOINT_URL_S3=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench"
    )
    try:
        import boto3

        from imagevariants.edge import handler
        from imagevariants.edge.events import origin_response_event
        from imagevariants.edge.keys import url_path
        from imagevariants.edge.presets import Document
        from imagevariants.edge.spec import Spec

        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="bench", Key="images/photo.jpg", Body=photo.read_bytes())
        document = Document.build({"md": [Spec(1280, format="webp")]})
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as baked:
            baked.write(document.to_json())
        handler.DOCUMENT_PATH = Path(baked.name)
        key = document.outputs("md")[0].key("images/photo.jpg", document.prefix)
        event = origin_response_event("/" + url_path(key), "403", "bench", "eu-west-1")
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's own log line
            started = time.perf_counter()
            response = handler.lambda_handler(event, None)
            first = time.perf_counter() - started
        assert response["status"] in ("200", "307"), response["status"]
        stored = s3.head_object(Bucket="bench", Key=key)
        assert (stored["ContentType"], stored["CacheControl"]) == ("image/webp", document.cache_control["variant"])
    finally:
        server.stop()
    return {"import_ms": statistics.median(imports) * 1000, "first_request_ms": first * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Two photographs, JPEG and WebP only.")
    parser.add_argument("--avif-photos", type=int, default=3, help="Photographs in the AVIF rows (slow).")
    parser.add_argument(
        "--rounds", type=int, default=2, help="Runs of each worker, interleaved; each request's fastest time is kept."
    )
    args = parser.parse_args()

    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True)
    photos = photographs()
    if args.quick:
        photos = dict(list(photos.items())[:2])
    formats = ("jpeg", "webp") if args.quick else ("jpeg", "webp", "avif")
    jobs = jobs_for(photos, formats, args.avif_photos)
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path = Path(tmp) / "jobs.json"
        jobs_path.write_text(json.dumps(jobs))
        (Path(tmp) / "ours").mkdir()
        (Path(tmp) / "sharp").mkdir()
        env = {**os.environ, "UV_THREADPOOL_SIZE": "1", "VIPS_CONCURRENCY": "1"}
        worker = [sys.executable, str(HERE / "ours_worker.py"), str(jobs_path), f"{tmp}/ours"]
        runs: dict[str, list[dict]] = {side: [] for side in ("ours", "cold", "sharp", *PEERS)}
        for _ in range(args.rounds):  # interleaved, so that a slow spell of the machine hits every side alike
            runs["ours"].append(run_worker(worker))
            runs["cold"].append(run_worker([*worker, "--cold"]))
            runs["sharp"].append(
                run_worker(["node", str(HERE / "sharp_worker.mjs"), str(jobs_path), f"{tmp}/sharp"], env)
            )
            for peer in PEERS:
                peer_worker = [sys.executable, str(HERE / "peers_worker.py"), peer, str(jobs_path), f"{tmp}/ours"]
                runs[peer].append(run_worker(peer_worker))
        ours, cold, sharp = (fastest(runs[side]) for side in ("ours", "cold", "sharp"))
        by_id = {job["id"]: job for job in jobs}
        peers = {peer: _peer_rows(fastest(runs[peer]), cold, by_id) for peer in PEERS}
        rows = []
        for a, c, b in zip(ours["results"], cold["results"], sharp["results"], strict=True):
            job = by_id[a["id"]]
            rows.append({**job, "ours": a, "cold": c, "sharp": b, "ours_ssim": quality(a, job["source"]),
                         "sharp_ssim": quality(b, job["source"])})  # fmt: skip
        worst = {} if args.quick else worst_cases(photos, tmp)
    rss = {"ours": ours["rss_kib"], "cold": cold["rss_kib"], "sharp": sharp["rss_kib"]}
    ladder = (
        [] if args.quick else avif_ladder(photos["kleiber"] if "kleiber" in photos else next(iter(photos.values())))
    )
    extra = {"cache": ours["cache"], "worst": worst, "avif_ladder": ladder, "peers": peers}
    report = render_report(rows, rss, handler_end_to_end(next(iter(photos.values()))), extra)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "latest.md").write_text(report)
    (HERE / "results" / "latest.json").write_text(json.dumps({"rows": rows, "rss_kib": rss, **extra}, indent=1))
    print(report)


def render_report(rows: list[dict], rss: dict[str, int], handler: dict, extra: dict) -> str:
    def rate(group: list[dict], side: str) -> float:
        return len(group) / sum(row[side]["seconds"] for row in group)

    lines = [
        "| format | variants | variants/s ours (warm) | ours (cold) | sharp | ours/sharp warm | ours/sharp cold "
        "| bytes ours/sharp | SSIM ours | SSIM sharp | slowest ours cold (s) | slowest sharp (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for format_ in dict.fromkeys(row["format"] for row in rows):
        group = [row for row in rows if row["format"] == format_]
        ours_bytes = sum(row["ours"]["bytes"] for row in group)
        sharp_bytes = sum(row["sharp"]["bytes"] for row in group)
        lines.append(
            f"| {format_} | {len(group)} | {rate(group, 'ours'):.2f} | {rate(group, 'cold'):.2f} "
            f"| {rate(group, 'sharp'):.2f} | {rate(group, 'ours') / rate(group, 'sharp'):.2f}x "
            f"| {rate(group, 'cold') / rate(group, 'sharp'):.2f}x | {ours_bytes / sharp_bytes:.2f} "
            f"| {statistics.mean(r['ours_ssim'] for r in group):.4f} "
            f"| {statistics.mean(r['sharp_ssim'] for r in group):.4f} "
            f"| {max(r['cold']['seconds'] for r in group):.2f} | {max(r['sharp']['seconds'] for r in group):.2f} |"
        )
    slower = [row for row in rows if row["cold"]["seconds"] > row["sharp"]["seconds"]]
    clearly = [row for row in slower if row["cold"]["seconds"] > 1.1 * row["sharp"]["seconds"]]
    worst = max(rows, key=lambda row: row["cold"]["seconds"] / row["sharp"]["seconds"])
    photos = sorted({row["photo"] for row in rows})
    per_photo = ["", "| photo | ours/sharp warm | ours/sharp cold |", "|---|---|---|"]
    for photo in photos:
        group = [r for r in rows if r["photo"] == photo]
        per_photo.append(
            f"| {photo} | {rate(group, 'ours') / rate(group, 'sharp'):.2f}x "
            f"| {rate(group, 'cold') / rate(group, 'sharp'):.2f}x |"
        )
    return "\n".join(
        [
            f"Photographs: {', '.join(photos)}; widths {', '.join(map(str, WIDTHS))}; quality {QUALITY}; "
            "one core each; every variant made from the source bytes, as its own request. Warm: one container "
            "serves the requests in turn and keeps decoded sources; cold: every request in a new container.",
            "",
            *lines,
            "",
            f"Whole set: ours {rate(rows, 'ours'):.2f} variants/s warm, {rate(rows, 'cold'):.2f} cold; sharp "
            f"{rate(rows, 'sharp'):.2f}: **{rate(rows, 'ours') / rate(rows, 'sharp'):.2f}x sharp's rate warm, "
            f"{rate(rows, 'cold') / rate(rows, 'sharp'):.2f}x cold**.",
            f"First requests slower than sharp's (cold): {len(slower)} of {len(rows)}, {len(clearly)} of them by "
            f"more than 10% ({', '.join(row['id'] for row in clearly) or 'none'}); the worst, {worst['id']}, "
            f"took {worst['cold']['seconds']:.2f} s against sharp's {worst['sharp']['seconds']:.2f} s.",
            f"Peak RSS: ours {rss['ours'] / 1024:.0f} MiB warm, {rss['cold'] / 1024:.0f} MiB cold; sharp "
            f"{rss['sharp'] / 1024:.0f} MiB.",
            f"Handler against a moto S3 server: cold import {handler['import_ms']:.0f} ms, first request "
            f"(read, 1280 px WebP, store, answer) {handler['first_request_ms']:.0f} ms.",
            f"Warm container: {extra['cache']['hits']} of {extra['cache']['hits'] + extra['cache']['misses']} "
            "requests reused a decode kept from an earlier request (same source, same decoded size).",
            *per_photo,
            *_peer_lines(extra["peers"]),
            *_worst_lines(extra["worst"]),
            *_ladder_lines(extra["avif_ladder"]),
        ]
    )


def _peer_lines(peers: dict[str, list[dict]]) -> list[str]:
    lines = ["", "Django thumbnailers, JPEG rows, each thumbnail made the first time (cold), one core:", "",
             "| library | variants | variants/s | ours (cold) / theirs | bytes theirs/ours | SSIM theirs | SSIM ours "
             "| failed |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for peer, rows in peers.items():
        made = [row for row in rows if "error" not in row["theirs"]]
        failed = [row["id"] for row in rows if "error" in row["theirs"]]
        errors = sorted({row["theirs"]["error"] for row in rows if "error" in row["theirs"]})
        theirs_s = sum(row["theirs"]["seconds"] for row in made)
        ours_s = sum(row["ours"]["seconds"] for row in made)
        lines.append(
            f"| {peer} | {len(made)} | {len(made) / theirs_s:.2f} | {theirs_s / ours_s:.2f}x "
            f"| {sum(r['theirs']['bytes'] for r in made) / sum(r['ours']['bytes'] for r in made):.2f} "
            f"| {statistics.mean(r['theirs_ssim'] for r in made):.4f} "
            f"| {statistics.mean(r['ours_ssim'] for r in made):.4f} "
            f"| {', '.join(failed) or 'none'}{' (' + '; '.join(errors) + ')' if errors else ''} |"
        )
    return lines


def _worst_lines(worst: dict) -> list[str]:
    if not worst:
        return []
    lines = ["", "Worst single requests, each in a new process (full-size variant of the largest photograph):", "",
             "| variant | source MP | seconds ours | sharp | peak RSS ours (MiB) | sharp | bytes ours | sharp |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for result in worst.values():
        sharp = result.get("sharp")
        theirs = (
            (f"{sharp['seconds']:.2f}", f"{sharp['rss_kib'] / 1024:.0f}", str(sharp["bytes"])) if sharp else ("-",) * 3
        )
        lines.append(
            f"| {result['id']} | {result['megapixels']:.1f} | {result['seconds']:.2f} | {theirs[0]} "
            f"| {result['rss_kib'] / 1024:.0f} | {theirs[1]} | {result['bytes']} | {theirs[2]} |"
        )
    return lines


def _ladder_lines(ladder: list[dict]) -> list[str]:
    if not ladder:
        return []
    lines = ["", "AVIF encoder speed (libaom, one thread) for one 1920 px variant, cold:", "",
             "| speed | seconds | bytes | SSIM |", "|---|---|---|---|"]  # fmt: skip
    for row in ladder:
        lines.append(f"| {row['speed']} | {row['seconds']:.2f} | {row['bytes']} | {row['ssim']:.4f} |")
    return lines


if __name__ == "__main__":
    main()
