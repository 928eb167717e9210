"""A site whose storage holds what an attacker would ask the local edge for, on the file system or private S3."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from PIL import Image

from tests import images

BUCKET = "private-media"

HTML = b"<!doctype html><html><body><script>document.title='pwned'</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)" width="10" height="10"></svg>'
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEXT = b"Invoice 2024-117: 1,200.00 EUR, IBAN FR76 3000 6000 0112 3456 7890 189\n"


#: Files of the storage: the exploits of the report, and real sources.
FILES = {
    "private/invoice.txt": TEXT,
    "private/passport.jpg": images.jpeg(60, 40),
    "uploads/evil.html": HTML,
    "uploads/evil.svg": SVG,
    "uploads/report.pdf": PDF,
    "uploads/photo.png": images.png(30, 20),
    "images/photo.jpg": images.jpeg(60, 40),
    "images/page.html": HTML,
}
#: Where the site's sources are: its uploads and ``SOURCE_PREFIXES`` (``private/`` is not one of them).
SOURCE_PREFIXES = ["uploads/"]
#: How the bytes of each Content-Type a variant may have begin.
MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "image/png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda data: data.startswith((b"GIF87a", b"GIF89a")),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "image/avif": lambda data: data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"),
}
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "AVIF": "image/avif"}


def is_image_of_type(data: bytes, content_type: str) -> bool:
    """Whether ``data`` begins as ``content_type`` says and Pillow decodes it as that format."""
    if content_type not in MAGIC or not MAGIC[content_type](data):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            return FORMATS.get(image.format or "") == content_type
    except Exception:
        return False


@dataclass
class Site:
    """The configured storage, what it holds, and every call the web process made to it."""

    kind: str
    storage: Storage
    list_keys: Callable[[], list[str]]
    calls: list[str] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> None:
        self.storage.save(key, ContentFile(data))
        self.calls.clear()


def _record_filesystem_calls(storage: Storage, calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("exists", "open", "save", "delete", "listdir", "size", "path"):
        real = getattr(storage, name)

        def recorded(*args: Any, _name: str = name, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            calls.append(f"{_name} {args[0] if args else ''}")
            return _real(*args, **kwargs)

        monkeypatch.setattr(storage, name, recorded)


def _record_s3_calls(storage: Storage, calls: list[str]) -> None:
    def before_call(model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(f"{model.name} {params.get('Key', '')}")

    storage.connection.meta.client.meta.events.register("before-call.s3", before_call)


@pytest.fixture(params=["filesystem", "private-s3"])
def site(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The files above on the site's storage (``FileSystemStorage``, or a private bucket through django-storages'
    ``S3Storage`` with signed URLs), the ``presets`` published for it, and the storage calls recorded."""
    calls: list[str] = []
    if request.param == "filesystem":
        settings.IMAGEVARIANTS = {"SOURCE_PREFIXES": SOURCE_PREFIXES}
        storage = storages["default"]
        root = settings.MEDIA_ROOT

        def list_keys() -> list[str]:
            return sorted(
                os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                for folder, _, names in os.walk(root)
                for name in names
            )

    else:
        import boto3

        request.getfixturevalue("aws")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_public_access_block(
            Bucket=BUCKET,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        settings.STORAGES = {
            **settings.STORAGES,
            "private": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "region_name": "us-east-1",
                    "default_acl": "private",
                    "querystring_auth": True,
                },
            },
        }
        settings.IMAGEVARIANTS = {"STORAGE": "private", "SOURCE_PREFIXES": SOURCE_PREFIXES}
        storage = storages["private"]

        def list_keys() -> list[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    request.getfixturevalue("presets")  # published now, with the source prefixes above
    for key, data in FILES.items():
        storage.save(key, ContentFile(data))
    if request.param == "filesystem":
        _record_filesystem_calls(storage, calls, monkeypatch)
    else:
        _record_s3_calls(storage, calls)
    yield Site(request.param, storage, list_keys, calls)
