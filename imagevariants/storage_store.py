"""The edge's Store interface over a Django storage, for the local edge (and warming variants)."""

from __future__ import annotations

import errno

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from storages.backends.s3 import S3Storage

from .edge.errors import SourceMissing, SourceTooLarge
from .edge.store import S3Store, Store


class StorageStore:
    """Reads sources from and writes variants to any Django storage (FileSystemStorage in the demo)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def read(self, key: str, max_bytes: int) -> bytes:
        try:
            with self.storage.open(key, "rb") as file:
                data = file.read(max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, SuspiciousFileOperation):
            raise SourceMissing(f"no source at {key!r}") from None
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):  # names no file can have
                raise SourceMissing(f"no source at {key!r}") from None
            raise
        if len(data) > max_bytes:
            raise SourceTooLarge(f"source is over the limit of {max_bytes} bytes")
        return data

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        if self.storage.exists(key):
            return  # variants are immutable: whoever wrote it first wrote the same bytes
        name = self.storage.save(key, ContentFile(data))
        if name != key:  # lost a race to a concurrent writer of the same bytes
            self.storage.delete(name)


def store_for(storage: Storage) -> Store:
    """The edge's own S3 store for an S3Storage (real Content-Type and Cache-Control), else a StorageStore."""
    if isinstance(storage, S3Storage):
        location = storage.location.strip("/")
        client = storage.connection.meta.client
        return S3Store(storage.bucket_name, client.meta.region_name, f"{location}/" if location else "", client=client)
    return StorageStore(storage)
