from __future__ import annotations

import threading

import pytest

from imagevariants.edge.errors import SourceMissing, SourceTooLarge
from imagevariants.edge.presets import Document, Spec
from tests import images


class MemoryStore:
    """The Store interface over a dict, for handler tests where S3 is not the point (see test_s3.py for S3)."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.written: dict[str, tuple[bytes, str, str]] = {}
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
def store() -> MemoryStore:
    return MemoryStore({"images/my photo-2024.jpg": images.jpeg(800, 600), "images/test.png": images.png(640, 480)})
