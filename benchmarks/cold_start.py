"""What a cold start costs the Lambda function: importing the handler, plus its first request, less a warm one.

Run: ``python benchmarks/cold_start.py`` (about 30 s; ``--rounds 5`` for a quick run, ``--levers`` to measure
the other ways of making the S3 client too, about 1.5 minutes, ``--only TEXT`` some of them). Needs an interpreter
of the runtime's Python (3.12), as ``deploy_edge`` does to compile and verify the bundle, and the cached Pillow for
the runtime (``manage.py deploy_edge --fetch-pillow --runtime python3.12``).

What it does:

- builds the real bundle (``deploy.bundle.build``, one preset: 640 px WebP) and unzips it twice: as built, with the
  bytecode of every module, and without any bytecode (a bundle built where no Python 3.12 is found);
- emulates what the Lambda runtime ships beside the bundle: this environment's boto3 and its dependencies (pure
  Python) copied into a folder and byte-compiled by Python 3.12, as the runtime's image has them;
- starts a moto S3 server (``ThreadedMotoServer`` on 127.0.0.1) with two 1600x1200 JPEG sources in a bucket;
- then, for each round and each variant in turn (the order alternates from round to round), starts a fresh Python
  3.12 process (``-I -S``, with ``-B`` since Lambda's code folder is read-only: no bytecode is ever written there)
  with the bundle and the emulated runtime on ``sys.path`` and ``AWS_*`` pointing at moto, which times the import of
  ``imagevariants.edge.handler``, a first ``lambda_handler`` call on a miss for a variant of one source, and a
  second (warm) call on a miss for the other source's.

With ``--levers``, the other variants replace ``store.s3_client`` in the fresh process as soon as the handler is
imported, within the timed import (``boto3.client`` as before, botocore's own model loader, the client made at
import or in a thread started then, checksums only when required); a control makes the shipped client through
that same hook.

The cold-start overhead of a round is import + first - warm: what a new container adds to a request. The medians
over the rounds are printed, beside the same figure in CPU time (less sensitive to a shared machine's other work)
and the median of each round's difference with the shipped bundle's overhead (measured seconds apart).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RUNTIME = "python3.12"
REGION = "eu-west-1"
BUCKET = "bench"
SOURCES = ("images/photo-1.jpg", "images/photo-2.jpg")
#: What the Lambda runtime ships of the AWS SDK: boto3 and its dependencies, all pure Python.
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")

#: Run in each fresh process: argv is the bundle, the emulated runtime, the lever, then the two URIs.
CHILD = r"""
import contextlib, functools, io, json, sys, threading, time
bundle, runtime, lever, region, first_uri, warm_uri = sys.argv[1:7]
sys.path[:0] = [bundle, runtime]


def config(**extra):
    from botocore.config import Config

    return Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 2, "mode": "standard"}, **extra)


def boto3_client(region):  # what the edge did before
    import boto3

    return boto3.client("s3", region_name=region, config=config())


def every_model_listed(region):  # botocore's own loader, which lists every service's models to find s3
    from botocore.session import get_session

    return get_session().create_client("s3", region_name=region, config=config())


def checksums_when_required(region):  # as shipped, without a CRC32 of each body written or read
    from botocore.session import get_session

    session = get_session()
    session.register_component("data_loader", store._s3_models())
    extra = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    return session.create_client("s3", region_name=region, config=config(**extra))


def shipped_through_the_hook(region):  # the shipped client, made here as the levers' are: their control
    from botocore.session import get_session

    session = get_session()
    session.register_component("data_loader", store._s3_models())
    return session.create_client("s3", region_name=region, config=config())


MAKERS = {
    "control": shipped_through_the_hook,
    "boto3.client": boto3_client,
    "every model listed": every_model_listed,
    "checksums when required": checksums_when_required,
}
clock, cpu = time.perf_counter, time.process_time
started, started_cpu = clock(), cpu()
import imagevariants.edge.handler as handler
from imagevariants.edge import store

for name, make in MAKERS.items():
    if name in lever:
        store.s3_client = functools.lru_cache(maxsize=8)(make)
if "client at import" in lever:
    store.s3_client(region)
if "client in a thread at import" in lever:
    shipped = store.s3_client
    making = threading.Thread(target=shipped, args=(region,))
    making.start()

    def after_the_thread(region):
        making.join()
        return shipped(region)

    store.s3_client = after_the_thread
imported, imported_cpu = clock(), cpu()
from imagevariants.edge.events import origin_response_event

times = []
with contextlib.redirect_stdout(io.StringIO()):  # the handler's log lines
    for uri in (first_uri, warm_uri):
        t, c = clock(), cpu()
        response = handler.lambda_handler(origin_response_event(uri, "403", "bench", region), None)
        times.append((clock() - t, cpu() - c))
        assert response["status"] == "200", (response["status"], response.get("body"))
print(json.dumps({
    "import": imported - started, "first": times[0][0], "warm": times[1][0],
    "cpu": imported_cpu - started_cpu + times[0][1] - times[1][1],
}))
"""

SHIPPED = "with bytecode (shipped)"
#: name: (bundle folder, lever). The first two are the comparison of every run; --levers adds the others.
VARIANTS = {
    "without bytecode": ("plain", ""),
    SHIPPED: ("compiled", ""),
    "before: without bytecode, boto3.client": ("plain", "boto3.client"),
    "with bytecode, boto3.client": ("compiled", "boto3.client"),
    "with bytecode, client at import": ("compiled", "client at import"),
    "with bytecode, client in a thread at import": ("compiled", "client in a thread at import"),
    "with bytecode, botocore's loader (every model listed)": ("compiled", "every model listed"),
    "with bytecode, checksums when required": ("compiled", "checksums when required"),
    "with bytecode, the shipped client made as the levers' are (control)": ("compiled", "control"),
}


def setup_django() -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "imagevariants"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def unzip_bundle(root: Path) -> tuple[Path, Path, list[str]]:
    """The bundle unzipped as built, and again without its bytecode; and the document's two variant URIs."""
    from imagevariants.deploy import bundle
    from imagevariants.edge.keys import url_path
    from imagevariants.edge.presets import Document
    from imagevariants.edge.spec import Spec

    document = Document.build({"md": [Spec(640, format="webp")]})
    built = bundle.build(document, RUNTIME)
    if not built.bytecode:
        sys.exit(f"No {RUNTIME} interpreter on this machine: the bundle has no bytecode to measure.")
    compiled, plain = root / "compiled", root / "plain"
    for folder in (compiled, plain):
        with zipfile.ZipFile(io.BytesIO(built.data)) as archive:
            archive.extractall(folder)
    for cache in sorted(plain.rglob("__pycache__")):
        shutil.rmtree(cache)
    return compiled, plain, ["/" + url_path(document.outputs("md")[0].key(s, document.prefix)) for s in SOURCES]


def emulate_runtime(interpreter: str, into: Path) -> None:
    """This environment's boto3 and its dependencies, byte-compiled by the runtime's Python as Lambda ships them."""
    into.mkdir()
    for name in SDK:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            sys.exit(f"{name} is not installed here: it stands for the Lambda runtime's own.")
        if spec.submodule_search_locations:
            source = Path(next(iter(spec.submodule_search_locations)))
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(spec.origin, into)
    subprocess.run([interpreter, "-I", "-S", "-m", "compileall", "-q", str(into)], check=True)


def sources() -> list[bytes]:
    """Two photograph-sized JPEGs with different bytes (a decode of one is never reused for the other)."""
    from PIL import Image

    made = []
    for turn in (0, 1):
        ramp = Image.linear_gradient("L").resize((1600, 1200))
        bands = [ramp, Image.radial_gradient("L").resize((1600, 1200)), ramp.transpose(Image.Transpose.ROTATE_180)]
        out = io.BytesIO()
        Image.merge("RGB", bands[turn:] + bands[:turn]).save(out, "JPEG", quality=90)
        made.append(out.getvalue())
    return made


def median_ms(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows) * 1000


def overhead_s(row: dict[str, float]) -> float:
    """What a cold start adds to a request: the import and the first request, less a warm request."""
    return row["import"] + row["first"] - row["warm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--levers", action="store_true", help="also measure the other ways of making the client")
    parser.add_argument("--only", metavar="TEXT", help="the shipped bundle and the variants whose name has TEXT")
    args = parser.parse_args()
    setup_django()
    import boto3
    from moto.server import ThreadedMotoServer

    from imagevariants.deploy.bundle import find_interpreter

    interpreter = find_interpreter(RUNTIME)
    if interpreter is None:
        sys.exit(f"No {RUNTIME} interpreter on this machine.")
    names = list(VARIANTS) if args.levers else list(VARIANTS)[:2]
    if args.only:
        names = [SHIPPED, *(name for name in VARIANTS if name != SHIPPED and args.only in name)]
    with tempfile.TemporaryDirectory(prefix="imagevariants-cold-start-") as tmp:
        compiled, plain, uris = unzip_bundle(Path(tmp))
        folders = {"compiled": compiled, "plain": plain}
        emulate_runtime(interpreter, Path(tmp) / "runtime")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        host, port = server.get_host_and_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "bench",  # Lambda gives the role's credentials in the environment
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,  # no profile of this machine's applies
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        try:
            s3 = boto3.client(
                "s3",
                region_name=REGION,
                endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            for key, data in zip(SOURCES, sources(), strict=True):
                s3.put_object(Bucket=BUCKET, Key=key, Body=data)
            rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
            for turn in range(args.rounds):
                for name in names if turn % 2 == 0 else names[::-1]:
                    folder, lever = VARIANTS[name]
                    command = [interpreter, "-I", "-S", "-B", "-c", CHILD, str(folders[folder]), tmp + "/runtime"]
                    done = subprocess.run([*command, lever, REGION, *uris], env=env, capture_output=True, text=True)
                    if done.returncode != 0:
                        sys.exit(f"{name}: {(done.stderr.strip().splitlines() or ['no output'])[-1]}")
                    rows[name].append(json.loads(done.stdout))
        finally:
            server.stop()
        written = [p for p in plain.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
        assert not written, f"bytecode was written into the bundle without it: {written[:3]}"
    version = subprocess.run([interpreter, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True)
    print(f"{args.rounds} rounds, Python {version.stdout.decode().strip()}, medians")
    print()
    print("| variant | import (ms) | first request | warm request | cold-start overhead | overhead, CPU time "
          "| overhead - shipped's, same round |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in names:
        overhead = [{"o": overhead_s(row)} for row in rows[name]]
        paired = [
            {"o": overhead_s(row) - overhead_s(ours)} for row, ours in zip(rows[name], rows[SHIPPED], strict=True)
        ]
        figures = [median_ms(rows[name], key) for key in ("import", "first", "warm")]
        figures += [median_ms(overhead, "o"), median_ms(rows[name], "cpu")]
        difference = "-" if name == SHIPPED else f"{median_ms(paired, 'o'):+.0f}"
        print(f"| {name} | " + " | ".join(f"{value:.0f}" for value in figures) + f" | {difference} |")


if __name__ == "__main__":
    main()
