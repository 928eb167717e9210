"""Removing originals and variants from storage and their URLs from the CDN, at any scale.

Three paths share it. A ``SourceImage`` deleted, or whose file is replaced, removes what its old file left: the keys
are computed from the published document (no listing) and removed once the transaction commits (``schedule``).
``purge_sources`` (``manage.py purge_source`` and the admin action) removes every variant of some sources, found by
one pass over the variant prefix. ``prune`` removes the variants of revisions the document no longer serves.

On S3 (django-storages' ``S3Storage``) keys are listed with paginated ListObjectsV2 and deleted with DeleteObjects,
at most 1,000 a request; any other storage is walked with ``listdir`` and deleted key by key. With a CDN, the URL
paths of what was deleted are invalidated by CloudFront CreateInvalidation, at most 3,000 paths in progress. Nothing
holds more than a page of the listing, a batch of deletions and a batch of paths at once. Failures are translated
into :class:`PurgeError` where they arise and recorded in the :class:`Outcome`: callers report them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage
from django.db import transaction
from storages.backends.s3 import S3Storage

from . import conf
from .deploy.aws import LAMBDA_REGION, explain
from .edge.formats import FORMATS
from .edge.keys import SourceVersion, VariantKey, build_key, parse_key, url_path
from .edge.presets import Document
from .exceptions import PurgeError
from .models import SourceImage
from .publishing import published_document

__all__ = [
    "Batch",
    "Outcome",
    "Removal",
    "cloudfront_client",
    "prune",
    "purge_sources",
    "purging",
    "schedule",
    "source_removal",
    "watching",
]

logger = logging.getLogger(__name__)

#: Keys in one DeleteObjects request (S3's limit).
MAX_DELETE = 1000
#: Paths of one distribution CloudFront invalidates at a time (its limit on files in progress).
MAX_PATHS = 3000
#: How long to wait for an invalidation to finish before sending more paths: 45 polls 20 s apart.
WAIT_POLLS, WAIT_SECONDS = 45, 20
#: What the credentials lack when AWS refuses an operation.
PERMISSIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "DeleteObjects": "s3:DeleteObject",
    "HeadObject": "s3:GetObject",
    "CreateInvalidation": "cloudfront:CreateInvalidation",
    "GetInvalidation": "cloudfront:GetInvalidation",
}
_EXTENSIONS = frozenset(fmt.extension for fmt in FORMATS.values())


def _failure(what: str, exc: Exception) -> PurgeError:
    """One sentence for a failed call, naming the permission a refusal (HTTP 403) points to."""
    if not isinstance(exc, ClientError):
        return PurgeError(f"{what}: {explain(exc)}")
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    detail = ": ".join(part for part in (error.get("Code"), error.get("Message")) if part) or f"HTTP {status}"
    message = f"{what}: AWS refused {exc.operation_name} ({detail})"
    if (status == 403 or "AccessDenied" in error.get("Code", "")) and exc.operation_name in PERMISSIONS:
        message += f": the AWS credentials need {PERMISSIONS[exc.operation_name]}"
    return PurgeError(message + ".")


@dataclass
class Outcome:
    """What a removal did: keys deleted (originals outside the variant prefix, variants under it), CDN paths
    invalidated, and the errors that stopped or limited it."""

    originals: int = 0
    variants: int = 0
    not_deleted: int = 0
    invalidated: int = 0
    invalidations: int = 0
    not_invalidated: int = 0
    rows: int = 0
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self, dry_run: bool = False) -> str:
        if dry_run:
            return (
                f"Would remove {self.originals} original(s) and {self.variants} variant(s) and delete {self.rows}"
                " SourceImage row(s); run again without --dry-run to do it."
            )
        text = f"Removed {self.originals} original(s) and {self.variants} variant(s)"
        if self.invalidations or self.not_invalidated:
            text += f"; {self.invalidated} CDN path(s) invalidated in {self.invalidations} request(s)"
        if self.not_invalidated:
            text += f", {self.not_invalidated} not invalidated"
        if self.not_deleted:
            text += f"; {self.not_deleted} key(s) could not be deleted"
        return text + (f"; {self.rows} SourceImage row(s) deleted." if self.rows else ".")


class _Bucket:
    """Names of an S3Storage's bucket (its ``location`` left out), listed by page and deleted by batch."""

    def __init__(self, storage: S3Storage) -> None:
        self.client = storage.connection.meta.client
        self.bucket = storage.bucket_name
        location = storage.location.strip("/")
        self.root = f"{location}/" if location else ""

    def names(self, prefix: str) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.root + prefix, PaginationConfig={"PageSize": MAX_DELETE}
        )
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self.root) :]
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"Listing s3://{self.bucket}/{self.root}{prefix} failed", exc) from None

    def exists(self, name: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.root + name)
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise _failure(f"Reading s3://{self.bucket}/{self.root}{name} failed", exc) from None
        return True

    def delete(self, names: list[str]) -> dict[str, str]:
        """Delete ``names`` in one request; return the reason for each name S3 did not delete."""
        objects = [{"Key": self.root + name} for name in names]
        try:
            response = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"Deleting {len(names)} key(s) from s3://{self.bucket} failed", exc) from None
        return {
            error["Key"][len(self.root) :]: f"{error.get('Code', '')}: {error.get('Message', '')}"
            for error in response.get("Errors", ())
        }


class _Files:
    """Names of any other Django storage, walked with ``listdir`` and deleted one by one."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def names(self, prefix: str) -> Iterator[str]:
        yield from self._walk(prefix.rstrip("/"))

    def _walk(self, folder: str) -> Iterator[str]:
        try:
            directories, files = self.storage.listdir(folder)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise PurgeError(f"Listing {folder!r} failed: {exc}") from None
        for name in sorted(files):
            yield f"{folder}/{name}"
        for directory in sorted(directories):
            yield from self._walk(f"{folder}/{directory}")

    def exists(self, name: str) -> bool:
        return self.storage.exists(name)

    def delete(self, names: list[str]) -> dict[str, str]:
        failed = {}
        for name in names:
            try:
                self.storage.delete(name)
            except OSError as exc:
                failed[name] = str(exc)
        return failed


@functools.cache
def cloudfront_client() -> Any:
    """The process's CloudFront client (clients are thread-safe; making one costs about 10 MiB), with short
    timeouts: an editor's request never waits long on it."""
    config = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})
    return boto3.session.Session().client("cloudfront", region_name=LAMBDA_REGION, config=config)


class _Invalidator:
    """URL paths sent to CloudFront in CreateInvalidation batches, never more than ``MAX_PATHS`` in progress.

    After a refused request, no more are sent: the paths are counted as not invalidated and reported."""

    def __init__(self, distribution_id: str, base: str, outcome: Outcome, report: Callable[[str], None]) -> None:
        self.distribution_id, self.base, self.outcome, self.report = distribution_id, base, outcome, report
        self.paths: list[str] = []
        self.in_progress: list[tuple[str, int]] = []  # (invalidation id, paths) sent and maybe not finished
        self.client: Any = None
        self.failed = False

    @classmethod
    def configured(cls, outcome: Outcome, report: Callable[[str], None]) -> _Invalidator | None:
        """The CDN of the settings, or None without one (a missing DISTRIBUTION_ID is recorded as an error)."""
        cdn = conf.settings().cdn_url
        if not cdn:
            return None
        if not conf.settings().distribution_id:
            outcome.errors.append(
                "CDN_URL is set but DISTRIBUTION_ID is not, so CloudFront was not asked to forget these URLs."
            )
            return None
        return cls(conf.settings().distribution_id, urlsplit(cdn).path.rstrip("/"), outcome, report)

    def add(self, name: str) -> None:
        self.paths.append(f"{self.base}/{url_path(name)}")  # as the tags emit it
        if len(self.paths) == MAX_PATHS:
            self.flush()

    def flush(self) -> None:
        paths, self.paths = self.paths, []
        if not paths:
            return
        if not self.failed:
            try:
                self.client = self.client or cloudfront_client()
                self._make_room(len(paths))
                batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": uuid.uuid4().hex}
                response = self.client.create_invalidation(DistributionId=self.distribution_id, InvalidationBatch=batch)
            except (ClientError, BotoCoreError) as exc:
                self._fail(_failure(self._what(len(paths)), exc))
            except PurgeError as exc:
                self._fail(exc)
            else:
                self.in_progress.append((response["Invalidation"]["Id"], len(paths)))
                self.outcome.invalidated += len(paths)
                self.outcome.invalidations += 1
                return
        self.outcome.not_invalidated += len(paths)
        for path in paths:
            self.report(path)

    def _fail(self, error: PurgeError) -> None:
        self.failed = True
        self.outcome.errors.append(str(error))

    def _what(self, count: int) -> str:
        return f"Invalidating {count} path(s) of CloudFront distribution {self.distribution_id} failed"

    def _make_room(self, count: int) -> None:
        """Wait for this run's earlier invalidations to finish until ``count`` more paths fit CloudFront's limit."""
        while self.in_progress and sum(n for _, n in self.in_progress) + count > MAX_PATHS:
            invalidation_id, _ = self.in_progress.pop(0)
            for _poll in range(WAIT_POLLS):
                invalidation = self.client.get_invalidation(DistributionId=self.distribution_id, Id=invalidation_id)
                if invalidation["Invalidation"]["Status"].lower() == "completed":
                    break
                time.sleep(WAIT_SECONDS)
            else:
                raise PurgeError(
                    f"{self._what(count)}: invalidation {invalidation_id} was still in progress after"
                    f" {WAIT_POLLS * WAIT_SECONDS // 60} minutes, and CloudFront takes at most {MAX_PATHS} paths at a"
                    " time."
                )


class Remover:
    """Deletes storage names in batches and invalidates the CDN paths of those deleted.

    Use it as a context manager: a :class:`PurgeError` raised in the block (by a listing or a deletion) stops it
    and is recorded in ``outcome.errors``; the paths of what was deleted until then are still invalidated.
    ``deleted`` is called with each name once it is deleted (at once with ``dry_run``, which deletes nothing),
    ``not_invalidated`` with each path CloudFront did not take.
    """

    def __init__(
        self,
        prefix: str,
        *,
        invalidate: bool = True,
        dry_run: bool = False,
        deleted: Callable[[str], None] | None = None,
        not_invalidated: Callable[[str], None] | None = None,
    ) -> None:
        storage = conf.source_storage
        self.store = _Bucket(storage) if isinstance(storage, S3Storage) else _Files(storage)
        self.prefix, self.dry_run = prefix, dry_run
        self.deleted = deleted or (lambda name: None)
        self.outcome = Outcome()
        self.batch: list[str] = []
        report = not_invalidated or (lambda path: None)
        self.cdn = _Invalidator.configured(self.outcome, report) if invalidate and not dry_run else None

    def __enter__(self) -> Remover:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, traceback: Any) -> bool:
        try:
            if exc is None:
                self.flush()
        except PurgeError as error:
            exc = error
        if self.cdn:
            self.cdn.flush()
        if isinstance(exc, PurgeError):
            self.outcome.errors.append(str(exc))
            return True
        return False

    def names(self, prefix: str) -> Iterator[str]:
        """Every name under ``prefix``, a page at a time."""
        return self.store.names(prefix)

    def exists(self, name: str) -> bool:
        return self.store.exists(name)

    def delete(self, name: str) -> None:
        if self.dry_run:
            self._done(name)
            return
        self.batch.append(name)
        if len(self.batch) == MAX_DELETE:
            self.flush()

    def invalidate(self, name: str) -> None:
        """Invalidate the path of a name that is not deleted (an original replaced in place)."""
        if self.cdn:
            self.cdn.add(name)

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        failed = self.store.delete(batch)
        if failed:
            name, reason = next(iter(failed.items()))
            self.outcome.not_deleted += len(failed)
            self.outcome.errors.append(
                f"{len(failed)} of {len(batch)} key(s) were not deleted, such as {name}: {reason}"
            )
        for name in batch:
            if name not in failed:
                self._done(name)
                self.invalidate(name)

    def _done(self, name: str) -> None:
        if name.startswith(self.prefix):
            self.outcome.variants += 1
        else:
            self.outcome.originals += 1
        self.deleted(name)


def _prefix(document: Document | None) -> str:
    return document.prefix if document else conf.settings().variant_prefix


# -- a source image's lifecycle ---------------------------------------------------------------------------------------
_watching: ContextVar[list[Batch] | None] = ContextVar("imagevariants_watching", default=None)
_purging: ContextVar[bool] = ContextVar("imagevariants_purging", default=False)


@dataclass(frozen=True)
class Removal:
    """What the old file of a source left behind: names to delete, and names to invalidate only (an original
    whose name now holds the new file)."""

    source: str
    prefix: str  # the variant prefix of the document the names were computed from
    names: tuple[str, ...]
    replaced: tuple[str, ...] = ()


class Batch:
    """The removals scheduled in one transaction, run together once it commits: one DeleteObjects per 1,000 keys
    and one invalidation per 3,000 paths, whatever the number of rows deleted."""

    def __init__(self) -> None:
        self.removals: list[Removal] = []
        self.outcome: Outcome | None = None

    def __call__(self) -> None:
        """Delete and invalidate; every failure is logged and kept in ``outcome``, never raised."""
        paths: list[str] = []
        sources = ", ".join(removal.source for removal in self.removals)
        try:
            with Remover(self.removals[0].prefix, not_invalidated=paths.append) as remover:
                for removal in self.removals:
                    for name in removal.names:
                        remover.delete(name)
                    for name in removal.replaced:
                        remover.invalidate(name)
            self.outcome = remover.outcome
        except Exception as exc:  # the database change is committed: nothing may turn it into an error page
            logger.exception("Removing the files of %s failed", sources)
            self.outcome = Outcome(errors=[f"Removing the files of {sources} failed: {exc}"])
            return
        if self.outcome.errors:
            logger.error(
                "Removing the files of %s: %s%s",
                sources,
                " ".join(self.outcome.errors),
                f" Paths not invalidated: {' '.join(paths)}" if paths else "",
            )


def source_removal(
    key: str, sha256: str, *, pk: int | None, replaced_in_place: bool = False, keep_original: bool = False
) -> Removal:
    """The keys a source's old file left: its original (unless the new file has its name, or ``keep_original``)
    and every variant of the revisions the published document serves, with and without its version token. Keys
    another SourceImage still uses (the same name, and for versioned keys the same content) are kept."""
    document = published_document()
    others = set(SourceImage.objects.filter(file=key).exclude(pk=pk).values_list("sha256", flat=True))
    versions: list[SourceVersion | None] = [] if others else [None]
    if sha256 and sha256 not in others:
        versions.append(SourceVersion.from_sha256(sha256))
    names = [] if replaced_in_place or others or keep_original else [key]
    if document:
        for name, preset in document.presets.items():
            for fingerprint, spec in preset.revisions.items():
                names.extend(build_key(key, name, fingerprint, spec.format, document.prefix, v) for v in versions)
    return Removal(key, _prefix(document), tuple(names), (key,) if replaced_in_place else ())


def schedule(removal: Removal) -> None:
    """Run ``removal`` once the current transaction commits (at once outside one), with the others of the same
    transaction; a rolled-back transaction or savepoint drops it."""
    connection = transaction.get_connection()
    scope = set(connection.savepoint_ids)
    batch = next(
        (
            func
            for sids, func, *_ in connection.run_on_commit
            if isinstance(func, Batch) and func.outcome is None and sids == scope
        ),
        None,
    )
    fresh = batch is None
    batch = batch or Batch()
    batch.removals.append(removal)
    watching = _watching.get()
    if watching is not None and batch not in watching:
        watching.append(batch)
    if fresh:
        transaction.on_commit(batch)


def purging() -> bool:
    """Whether the rows being deleted are purged by :func:`purge_sources`, which removes their files itself."""
    return _purging.get()


@contextlib.contextmanager
def watching() -> Iterator[list[Batch]]:
    """Collect the batches of removals scheduled in the block, to report their outcome once they ran."""
    batches: list[Batch] = []
    token = _watching.set(batches)
    try:
        yield batches
    finally:
        _watching.reset(token)


# -- purge_source and prune_variants ----------------------------------------------------------------------------------
def _sources_of(variant: VariantKey, document: Document | None) -> tuple[str, ...]:
    """The source keys a variant key may be of: the one its revision names when the document serves it, else its
    rest with and without a format extension."""
    resolved = document.resolve(variant) if document else None
    if resolved:
        return (resolved[1],)
    stem, dot, extension = variant.rest.rpartition(".")
    return (variant.rest, stem) if dot and extension in _EXTENSIONS else (variant.rest,)


def purge_sources(
    keys: Iterable[str],
    *,
    dry_run: bool = False,
    deleted: Callable[[str], None] | None = None,
    not_invalidated: Callable[[str], None] | None = None,
) -> Outcome:
    """Remove sources everywhere: their SourceImage rows, their originals and every stored variant of them (any
    revision, any version token, any format), found by one pass over the variant prefix, and invalidate the URL
    paths of all that. With ``dry_run`` only count and report what would go."""
    keys = set(keys)
    document = published_document()
    prefix = _prefix(document)
    rows = SourceImage.objects.filter(file__in=keys)
    if dry_run:
        rows_deleted = rows.count()
    else:
        token = _purging.set(True)
        try:
            with transaction.atomic():
                rows_deleted = rows.delete()[1].get(SourceImage._meta.label, 0)
        finally:
            _purging.reset(token)
    with Remover(prefix, dry_run=dry_run, deleted=deleted, not_invalidated=not_invalidated) as remover:
        remover.outcome.rows = rows_deleted
        for key in sorted(keys):
            if remover.exists(key):
                remover.delete(key)
            else:
                remover.outcome.missing.append(key)
        for name in remover.names(prefix):
            variant = parse_key(name, prefix)
            if variant and any(source in keys for source in _sources_of(variant, document)):
                remover.delete(name)
    return remover.outcome


def prune(document: Document, *, dry_run: bool = False, deleted: Callable[[str], None] | None = None) -> Outcome:
    """Delete the stored variants of revisions ``document`` does not serve (nothing else: a name under the prefix
    that is not a variant key stays). Their URLs are not emitted any more, so nothing is invalidated."""
    with Remover(document.prefix, invalidate=False, dry_run=dry_run, deleted=deleted) as remover:
        for name in remover.names(document.prefix):
            variant = parse_key(name, document.prefix)
            if variant is None:
                continue
            preset = document.presets.get(variant.preset)
            if preset is None or variant.fingerprint not in preset.revisions:
                remover.delete(name)
    return remover.outcome
