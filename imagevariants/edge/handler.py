"""The Lambda@Edge origin-response handler: make a missing variant, store it in S3, return it.

Entry point for Lambda: ``imagevariants.edge.handler.lambda_handler``, which answers with :func:`respond` over
the S3 origin of the event and the document baked next to this module. The local edge and warming call
:func:`respond` with a store over the Django storage and the published document. Whoever calls it, a variant is
made by :func:`make_variant`: read the source, render it, write the variant.

Every request has one deadline (Lambda's remaining time less a margin): reading the source, rendering and
writing the variant fit inside it, work that cannot finish in time is skipped, and the answer (a 503 when time
ran out) and its JSON log line are always written before Lambda would kill the function.
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import BadKey, EdgeError, NotServed, OutOfTime, SourceMissing
from .keys import VariantKey, decode_uri, parse_key, parse_seed_alias, url_path
from .lambda_rules import RESPONSE_BUDGET, response_size
from .limits import Deadline
from .pipeline import Rendered, render
from .presets import Document
from .store import S3Store, Store

__all__ = [
    "DOCUMENT_PATH",
    "RETRY_AFTER",
    "baked_document",
    "error_response",
    "lambda_handler",
    "make_variant",
    "print_line",
    "respond",
]

T = TypeVar("T")
#: Seconds kept for storing a variant; with less time left, the variant is served uncached and not stored.
WRITE_RESERVE = 1.5

DOCUMENT_PATH = Path(__file__).with_name("presets.json")


@functools.lru_cache(maxsize=1)
def baked_document() -> Document:
    """The presets document baked into the bundle, loaded and validated once per container."""
    return Document.from_json(DOCUMENT_PATH.read_bytes())


def _is_miss(origin_response: dict[str, Any]) -> bool:
    """S3 answered 403 or 404: the only responses the function may replace; every other passes through."""
    return origin_response.get("status") in ("403", "404")


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: the store is the event's S3 origin (its bucket, in its region); the deadline is the
    invocation's remaining time (``context.get_remaining_time_in_millis()``) less a margin."""
    deadline = Deadline.from_context(context)
    try:
        store: Store = S3Store.from_origin(event["Records"][0]["cf"]["request"]["origin"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # not an S3 origin: nothing of ours to make
        store = _NoStore(f"{type(exc).__name__}: {exc}")
    try:
        document = baked_document()
    except Exception as exc:  # a broken bundle (deploy_edge validates it first): answer, never crash
        log = {"outcome": "no-document", "error": f"{type(exc).__name__}: {exc}"}
        try:
            origin_response = event["Records"][0]["cf"]["response"]
            passes = not _is_miss(origin_response)
        except (KeyError, TypeError, IndexError, AttributeError):
            passes = False
        response = origin_response if passes else _text(503, "Service Unavailable", "variant unavailable", "no-store")
        print_line({**log, "status": response.get("status")})
        return response
    return respond(event, store, document, deadline)


class _NoStore:
    """The store of an event whose origin is not S3: every variant miss answers 404, nothing is written."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def read(self, key: str, max_bytes: int) -> bytes:
        raise SourceMissing(f"the origin is not an S3 bucket ({self.reason})")

    def write(self, key: str, data: bytes, content_type: str, cache_control: str) -> None:
        raise RuntimeError("the origin is not an S3 bucket")


def _headers(**values: str) -> dict[str, list[dict[str, str]]]:
    headers = {}
    for name, value in values.items():
        key = "-".join(part.capitalize() for part in name.split("_"))
        headers[key.lower()] = [{"key": key, "value": value}]
    return headers


#: Seconds a client should wait before asking again after a 503 (out of time, busy).
RETRY_AFTER = 5


def error_response(exc: EdgeError, cache_control: str) -> dict[str, Any]:
    """The plain-text answer to an edge error: its status, its public message (never its details)."""
    return _text(exc.status, exc.reason, exc.public, cache_control)


def _text(status: int, reason: str, message: str, cache_control: str) -> dict[str, Any]:
    headers = {"content_type": "text/plain; charset=utf-8", "cache_control": cache_control}
    if status == 503:
        headers["retry_after"] = str(RETRY_AFTER)
    return {
        "status": str(status),
        "statusDescription": reason,
        "headers": _headers(**headers),
        "body": message[:200] + "\n",
        "bodyEncoding": "text",
    }


#: Threads that run the store's calls, so that a stalled S3 costs the request its deadline, never more.
_io = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="edge-io")


def _within(deadline: Deadline, step: str, call: Callable[..., T], *args: Any) -> T:
    """Run one store call, giving up (OutOfTime) when the deadline passes before it answers."""
    deadline.check(step)
    future = _io.submit(call, *args)
    try:
        return future.result(timeout=deadline.remaining())
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise OutOfTime(f"{step} did not finish before the deadline") from None


def _redirect(status: int, key: str, cache_control: str) -> dict[str, Any]:
    return {
        "status": str(status),
        "statusDescription": "Found" if status == 302 else "Temporary Redirect",
        "headers": _headers(location="/" + url_path(key), cache_control=cache_control),
    }


def print_line(log: dict[str, Any]) -> None:
    """Lambda's log of a request: one JSON line on stdout, which CloudWatch Logs keeps as one event."""
    print(json.dumps(log, sort_keys=True, default=str))


def respond(
    event: dict[str, Any],
    store: Store,
    document: Document,
    deadline: Deadline | None = None,
    write_log: Callable[[dict[str, Any]], None] = print_line,
) -> dict[str, Any]:
    """Answer one origin-response event within ``deadline`` (the trigger's 30 s less a margin by default);
    never raises, never answers 5xx for bad input, always writes one log line (``write_log``: on stdout in
    Lambda, through ``logging`` on the local edge)."""
    started = time.monotonic()
    deadline = deadline or Deadline.from_context(None)
    log: dict[str, Any] = {}
    try:
        cf = event["Records"][0]["cf"]
        log.update(uri=cf["request"].get("uri"), status_in=cf["response"].get("status"))
        response = _answer(cf, store, document, log, deadline)
    except Exception as exc:  # the last line of defence: a bug must not become a viewer-facing crash loop
        log.update(outcome="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=8))
        response = _text(503, "Service Unavailable", "variant temporarily unavailable", "no-store")
    log["status"] = response["status"]
    log["ms"] = round((time.monotonic() - started) * 1000, 1)
    write_log(log)
    return response


def _answer(
    cf: dict[str, Any], store: Store, document: Document, log: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    origin_response = cf["response"]
    if not _is_miss(origin_response):
        log["outcome"] = "pass"
        return origin_response
    errors_cache = document.cache_control["error"]
    try:
        key = decode_uri(cf["request"]["uri"])
    except BadKey as exc:
        log.update(outcome="bad-key", error=str(exc))
        return _text(exc.status, exc.reason, "bad key", errors_cache)
    log["key"] = key
    variant = parse_key(key, document.prefix)
    if variant is None:
        alias = parse_seed_alias(key, frozenset(document.presets))
        if alias is None or not document.allows_source(alias.source_key):
            log["outcome"] = "pass"
            return origin_response
        target = document.outputs(alias.preset)[0].key(alias.source_key, document.prefix)
        log.update(outcome="alias", preset=alias.preset, location=target)
        return _redirect(302, target, document.cache_control["alias"])
    log["preset"] = variant.preset
    try:
        rendered, stored = make_variant(variant, key, store, document, deadline, log)
    except EdgeError as exc:
        log.update(outcome=type(exc).__name__, error=str(exc))
        return error_response(exc, document.cache_control["uncached"] if exc.status >= 500 else errors_cache)
    cache_control = document.cache_control["variant" if stored else "uncached"]
    response = {
        "status": "200",
        "statusDescription": "OK",
        "headers": _headers(content_type=rendered.content_type, cache_control=cache_control),
        "body": base64.b64encode(rendered.data).decode("ascii"),
        "bodyEncoding": "base64",
    }
    if response_size(response) <= RESPONSE_BUDGET:
        log["outcome"] = "generated" if stored else "generated-unstored"
        return response
    if stored:
        log["outcome"] = "stored-redirect"
        return _redirect(307, key, document.cache_control["uncached"])
    log["outcome"] = "too-large-unstored"
    return _text(503, "Service Unavailable", "variant temporarily unavailable", document.cache_control["uncached"])


def make_variant(
    variant: VariantKey, key: str, store: Store, document: Document, deadline: Deadline, log: dict[str, Any]
) -> tuple[Rendered, bool]:
    """Make the variant at ``key`` (parsed as ``variant``): read its source, render it, write the variant.

    Raises the EdgeError of a revision the document does not serve, of a source it may not read, that is missing,
    too large or not the version the key names, and of a render refused or out of time: nothing is written then.
    A failed write (or no time left for it) is no error: the variant is returned unstored, ``write_error`` logged.
    Returns the rendering and whether it was stored; what it read and made is added to ``log``.
    """
    resolved = document.resolve(variant)
    if resolved is None:
        raise NotServed(f"{variant.preset}.{variant.fingerprint} is not a served preset revision")
    spec, source_key = resolved
    if source_key.startswith(document.prefix):
        raise NotServed("a variant is never made from a variant")
    log["source"] = source_key
    if not document.allows_source(source_key):
        raise NotServed("the source is not under a source prefix")  # the log names both, the body neither
    data = _within(deadline, "reading the source", store.read, source_key, document.limits.max_source_bytes)
    log["source_bytes"] = len(data)
    if variant.version is not None and not variant.version.matches(data):
        raise NotServed("the source's bytes are not the version the key names")  # replaced, or a minted key
    rendered = render(data, spec, document.limits, deadline=deadline)
    log.update(
        source_pixels=rendered.source_width * rendered.source_height,
        source_size=f"{rendered.source_width}x{rendered.source_height}",
        output_bytes=len(rendered.data),
        output_pixels=rendered.width * rendered.height,
        pixels=f"{rendered.width}x{rendered.height}",
        format=rendered.format,
    )
    try:
        deadline.check("storing the variant", WRITE_RESERVE)
        _within(deadline, "storing the variant", store.write, key, rendered.data, rendered.content_type,
                document.cache_control["variant"])  # fmt: skip
    except Exception as exc:
        log["write_error"] = f"{type(exc).__name__}: {exc}"
        return rendered, False
    return rendered, True
