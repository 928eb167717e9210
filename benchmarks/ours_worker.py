"""Makes the benchmark's variants with imagevariants' pipeline, one request at a time; prints JSON results.

Usage: python ours_worker.py JOBS.json OUTDIR. Each variant decodes its source again, as each request does at
the edge.
"""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagevariants.edge.limits import Limits  # noqa: E402
from imagevariants.edge.pipeline import decode_cache, render  # noqa: E402
from imagevariants.edge.spec import Spec  # noqa: E402

jobs = json.loads(Path(sys.argv[1]).read_text())
out_dir = Path(sys.argv[2])
cold = len(sys.argv) > 3 and sys.argv[3] == "--cold"  # every request in a new container: no decoded source kept
results = []
for job in jobs:
    data = Path(job["source"]).read_bytes()  # the edge reads the bytes from S3; the file read is not timed
    if cold:
        decode_cache.clear()
    started = time.perf_counter()
    spec = Spec(job["width"], quality=job["quality"], format=job["format"])
    made = render(data, spec, Limits(max_source_bytes=200 << 20, max_source_pixels=100_000_000))
    seconds = time.perf_counter() - started
    path = out_dir / f"{job['id']}.{job['format']}"
    path.write_bytes(made.data)
    results.append(
        {"id": job["id"], "seconds": seconds, "bytes": len(made.data), "width": made.width, "height": made.height,
         "file": str(path)}
    )  # fmt: skip


def peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM; ru_maxrss would include the parent's at fork time)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


stats = {"hits": decode_cache.hits, "misses": decode_cache.misses}
print(json.dumps({"results": results, "rss_kib": peak_rss_kib(), "cache": stats}))
