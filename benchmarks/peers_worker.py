"""Makes the benchmark's JPEG variants with a Django thumbnailer, one request at a time; prints JSON results.

Usage: python peers_worker.py easy-thumbnails|sorl-thumbnail JOBS.json OUTDIR. Each thumbnail is made the way a
template asks for it the first time, with the library's defaults except width, quality 80 and JPEG output on a
white background (as ours and sharp's). The sources sit on a FileSystemStorage, so the timed work includes reading
the source and writing the thumbnail there (a few milliseconds: the files are in the page cache).
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import django
from django.conf import settings

library, jobs_path, out_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
media = Path(tempfile.mkdtemp())
settings.configure(
    INSTALLED_APPS=["easy_thumbnails" if library == "easy-thumbnails" else "sorl.thumbnail"],
    MEDIA_ROOT=str(media),
    THUMBNAIL_KVSTORE="sorl.thumbnail.kvstores.dbm_kvstore.KVStore",  # sorl's key-value store without a database
    THUMBNAIL_DBM_FILE=str(media / "thumbnails.dbm"),
)
django.setup()

from django.core.files.storage import default_storage  # noqa: E402

jobs = [job for job in json.loads(jobs_path.read_text()) if job["format"] == "jpeg"]
names = {}
for job in jobs:  # the sources are uploaded before the run; the upload is not timed
    if job["source"] not in names:
        with open(job["source"], "rb") as source:
            names[job["source"]] = default_storage.save(f"src/{Path(job['source']).name}", source)


def easy_thumbnail(name: str, job: dict) -> bytes:
    from easy_thumbnails.files import get_thumbnailer

    options = {"size": (job["width"], 0), "quality": job["quality"], "background": "#ffffff"}
    return get_thumbnailer(default_storage.open(name), relative_name=name).generate_thumbnail(options).read()


def sorl_thumbnail(name: str, job: dict) -> bytes:
    from sorl.thumbnail import get_thumbnail

    thumbnail = get_thumbnail(name, str(job["width"]), quality=job["quality"], format="JPEG")
    return thumbnail.read()


make = easy_thumbnail if library == "easy-thumbnails" else sorl_thumbnail
results = []
for job in jobs:
    started = time.perf_counter()
    try:
        data = make(names[job["source"]], job)
    except Exception as exc:  # the library's own failure on this photograph is a result too
        results.append({"id": job["id"], "error": f"{type(exc).__name__}: {exc}"})
        continue
    seconds = time.perf_counter() - started
    path = out_dir / f"{job['id']}.{library}.jpeg"
    path.write_bytes(data)
    results.append({"id": job["id"], "seconds": seconds, "bytes": len(data), "file": str(path)})
shutil.rmtree(media)
print(json.dumps({"results": results, "rss_kib": 0}))
