"""What removing variants costs at scale: ``prune_variants``, ``purge_source`` and deleting SourceImage rows,
against 100,000 variant keys.

Run: ``python benchmarks/purge.py`` (about 12 minutes; ``--keys 10000`` for a quick run). A moto S3 and CloudFront
server runs in a child process, which fills its bucket through moto's own backend (``put_object`` on the in-memory
model, tiny bodies, no HTTP: 100,000 keys in about 4 s); the commands run in this process against it over HTTP,
through django-storages' ``S3Storage`` as in production. Every API call any boto3 client makes is counted, by
operation. Each command runs twice on a freshly filled bucket: once under ``tracemalloc`` (calls, and the peak of
what this process allocated during the run, the server's memory excluded, the S3 and CloudFront clients already
made) and once without it (time, mostly moto's: it sorts the whole bucket for every ListObjectsV2 page).

The data set: 4,000 sources under ``images/`` (one row each), and per source 25 variant keys: the 12 current
outputs of presets sm, md, lg and xl (same format, AVIF, WebP) with the source's version token, the 4 primary
outputs without it (URLs made before version tokens), and 9 keys of revisions the document no longer serves (an
old md, an old xl, a deleted preset), which ``prune_variants`` deletes.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import multiprocessing
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUCKET = "media"
KEYS_PER_SOURCE = 25
DISTRIBUTION_CONFIG = {
    "CallerReference": "imagevariants-bench",
    "Comment": "benchmark",
    "Enabled": True,
    "Origins": {
        "Quantity": 1,
        "Items": [{"Id": "media", "DomainName": f"{BUCKET}.s3.us-east-1.amazonaws.com", "OriginPath": "",
                   "S3OriginConfig": {"OriginAccessIdentity": ""}}],
    },
    "DefaultCacheBehavior": {"TargetOriginId": "media", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
                             "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
}  # fmt: skip


def serve(conn: multiprocessing.connection.Connection) -> None:
    """The child: a moto server whose bucket is (re)filled on request through moto's backend."""
    import logging

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    conn.send(f"http://{host}:{port}")
    while (keys := conn.recv()) is not None:
        backend.get_bucket(BUCKET).keys.clear()
        for key in keys:
            backend.put_object(BUCKET, key, b"x")
        conn.send(len(keys))
    server.stop()


def sources(count: int) -> list[tuple[str, str]]:
    """(storage name, SHA-256) of each source."""
    return [(f"images/photo-{i:05d}.jpg", hashlib.sha256(str(i).encode()).hexdigest()) for i in range(count)]


def dataset(document, tracked: list[tuple[str, str]]) -> Iterator[str]:
    """Every key of the bucket: the originals, and 25 variant keys a source."""
    from imagevariants.edge.keys import SourceVersion, build_key
    from imagevariants.edge.spec import Spec

    stale = [(name, Spec(width, format=fmt)) for name, width in (("md", 300), ("xl", 1600), ("thumb", 64))
             for fmt in (None, "avif", "webp")]  # fmt: skip
    for key, sha in tracked:
        version = SourceVersion.from_sha256(sha)
        yield key
        for name in document.presets:
            outputs = document.outputs(name)
            yield from (output.key(key, document.prefix, version) for output in outputs)
            yield outputs[0].key(key, document.prefix)
        for name, spec in stale:
            yield build_key(key, name, spec.fingerprint, spec.format, document.prefix, version)


def count_calls() -> collections.Counter:
    """Count every API call made by any boto3 client of this process, by operation name."""
    from botocore.client import BaseClient

    calls: collections.Counter = collections.Counter()
    real = BaseClient._make_api_call

    def counted(self, operation_name: str, api_params: dict) -> object:
        calls[operation_name] += 1
        return real(self, operation_name, api_params)

    BaseClient._make_api_call = counted
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000, help="Variant keys in the bucket (default 100,000).")
    parser.add_argument("--purge", type=int, nargs="*", default=[1, 1000], help="Keys given to purge_source.")
    parser.add_argument("--delete", type=int, default=1000, help="SourceImage rows deleted in one transaction.")
    args = parser.parse_args()
    count = args.keys // KEYS_PER_SOURCE

    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    child = context.Process(target=serve, args=(child_conn,), daemon=True)
    child.start()
    endpoint = conn.recv()
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
                      AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")  # fmt: skip

    import boto3
    import django
    from django.conf import settings

    distribution = boto3.client("cloudfront", region_name="us-east-1").create_distribution(
        DistributionConfig=DISTRIBUTION_CONFIG
    )["Distribution"]
    settings.configure(
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "imagevariants"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        STORAGES={
            "default": {"BACKEND": "storages.backends.s3.S3Storage",
                        "OPTIONS": {"bucket_name": BUCKET, "region_name": "us-east-1"}},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        IMAGEVARIANTS={"CDN_URL": f"https://{distribution['DomainName']}", "DISTRIBUTION_ID": distribution["Id"],
                       "BUCKET": BUCKET},
        USE_TZ=True,
    )  # fmt: skip
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from imagevariants import conf, publishing, purge
    from imagevariants.edge.presets import Document
    from imagevariants.edge.spec import Spec
    from imagevariants.models import Publication, SourceImage

    call_command("migrate", verbosity=0)
    document = Document.build(
        {name: [Spec(width), Spec(width, format="avif"), Spec(width, format="webp")]
         for name, width in (("sm", 100), ("md", 250), ("lg", 700), ("xl", 1200))},
        sources=["images/"],
    )  # fmt: skip
    publishing.record(document, Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED)
    tracked = sources(count)
    calls = count_calls()

    def fill() -> int:
        keys = list(dataset(document, tracked))
        conn.send(keys)
        with connection.cursor() as cursor:  # no signal: the bucket is being refilled
            cursor.execute(f"DELETE FROM {SourceImage._meta.db_table}")
        rows = (SourceImage(file=key, sha256=sha, width=800, height=600) for key, sha in tracked)
        SourceImage.objects.bulk_create(rows)
        return conn.recv() - count  # the originals are not variant keys

    def measure(label: str, run: Callable[[], object]) -> dict:
        variants = fill()
        calls.clear()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        run()
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        traced = dict(calls)
        fill()
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        return {"label": label, "variants": variants, "calls": traced, "peak": peak, "seconds": seconds}

    def command(*argv: str) -> Callable[[], object]:
        def run() -> None:
            with open(os.devnull, "w") as sink:  # a line a key: kept, it would be the biggest thing measured
                call_command(*argv, stdout=sink, stderr=sink)

        return run

    conf.source_storage.connection.meta.client.list_objects_v2(Bucket=BUCKET, MaxKeys=1)  # made once a process
    purge.cloudfront_client()  # likewise (about 10 MiB)

    rows = [measure("prune_variants --yes", command("prune_variants", "--yes"))]
    if args.delete:
        deleted = [key for key, _ in tracked[: args.delete]]
        rows.append(
            measure(
                f"delete {args.delete:,} SourceImage rows (one transaction)",
                lambda: SourceImage.objects.filter(file__in=deleted).delete(),
            )
        )
    for given in args.purge:
        keys = [key for key, _ in tracked[:given]]
        rows.append(measure(f"purge_source ({given:,} key{'s' if given > 1 else ''})", command("purge_source", *keys)))
    conn.send(None)
    child.join()

    operations = sorted({name for row in rows for name in row["calls"]})
    print(f"| command | variant keys | {' | '.join(operations)} | peak traced (MiB) | seconds |")
    print(f"|---|---|{'---|' * len(operations)}---|---|")
    for row in rows:
        counts = " | ".join(f"{row['calls'].get(name, 0):,}" for name in operations)
        print(f"| {row['label']} | {row['variants']:,} | {counts} | {row['peak'] / 2**20:.1f} | {row['seconds']:.1f} |")


if __name__ == "__main__":
    main()
