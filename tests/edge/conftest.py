"""Fixtures of the edge tests. The edge runs in Lambda without Django, and these tests use none of it.

(The suite's autouse fixtures, in tests/conftest.py, reset Django-side state around these tests too; none of it is
read here.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from imagevariants.edge import pipeline
from imagevariants.edge.errors import SourceMissing, SourceTooLarge
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from tests import images


@pytest.fixture(autouse=True)
def _fresh_decode_cache() -> Iterator[None]:
    """Each test starts as a cold container: the decode cache is the edge's own per-container state."""
    pipeline.decode_cache.clear()
    yield
    pipeline.decode_cache.clear()


class MemoryStore:
    """The Store interface over a dict, for handler tests where S3 is not the point (see test_s3.py for S3)."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.written: dict[str, tuple[bytes, str, str]] = {}  # what the store holds: the last write of each key
        self.writes: list[tuple[str, bytes, str, str]] = []  # every write, in order
        self.reads: list[str] = []
        self.fail_writes = False
        self.lock = threading.Lock()

    def read(self, key: str, max_bytes: int) -> bytes:
        with self.lock:
            self.reads.append(key)
        if key not in self.objects:
            raise SourceMissing(key)
        if len(self.objects[key]) > max_bytes:
            raise SourceTooLarge(key)
        return self.objects[key]

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        if self.fail_writes:
            raise OSError("injected write failure")
        with self.lock:
            self.written[key] = (data, content_type, cache_control)
            self.writes.append((key, data, content_type, cache_control))


@pytest.fixture
def document() -> Document:
    return Document.build(
        {
            "sm": [Spec(100), Spec(100, format="webp")],
            "md": [Spec(250), Spec(250, format="avif"), Spec(250, format="webp")],
            "box": [Spec(200, 200, "cover", format="png")],
        }
    )


@pytest.fixture
def baked(document, tmp_path, monkeypatch):
    """The document as deploy_edge bakes it next to the handler."""
    from imagevariants.edge import handler

    path = tmp_path / "presets.json"
    path.write_text(document.to_json())
    monkeypatch.setattr(handler, "DOCUMENT_PATH", path)
    handler.baked_document.cache_clear()
    yield document
    handler.baked_document.cache_clear()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore({"images/my photo-2024.jpg": images.jpeg(800, 600), "images/test.png": images.png(640, 480)})


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the edge's S3 client at the server through botocore's own AWS_ENDPOINT_URL_S3, with fake credentials.

    The edge passes no endpoint of its own: if it did, these requests would go to AWS and fail.
    """
    import urllib.request

    from imagevariants.edge import store

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).close()
    for name in [name for name in os.environ if name.startswith("AWS_")]:  # nothing ambient may send past moto
        monkeypatch.delenv(name)
    for name, value in {
        "AWS_ENDPOINT_URL_S3": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,  # no profile of the machine's (an endpoint, a role) applies
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",  # not the bucket's: the edge must not rely on it
    }.items():
        monkeypatch.setenv(name, value)
    store.s3_client.cache_clear()
    yield moto_server
    store.s3_client.cache_clear()
