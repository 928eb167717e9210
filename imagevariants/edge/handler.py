"""The Lambda@Edge origin-response handler: make a missing variant, store it in S3, return it.

Entry point for Lambda: ``imagevariants.edge.handler.handler``. The local edge calls :func:`handle` with a store
over the Django storage and the published document; Lambda uses the S3 origin of the event and the document
baked next to this module.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import traceback
from pathlib import Path
from typing import Any

from .errors import BadKey, EdgeError, NotServed, SourceMissing
from .keys import decode_uri, parse_key, parse_seed_alias, url_path
from .lambda_rules import RESPONSE_BUDGET, response_size
from .pipeline import render
from .presets import Document
from .store import S3Store, Store

DOCUMENT_PATH = Path(__file__).with_name("presets.json")


@functools.lru_cache(maxsize=1)
def baked_document() -> Document:
    """The presets document baked into the bundle, loaded and validated once per container."""
    return Document.from_json(DOCUMENT_PATH.read_bytes())


def _is_miss(origin_response: dict[str, Any]) -> bool:
    """S3 answered 403 or 404: the only responses the function may replace; every other passes through."""
    return origin_response.get("status") in ("403", "404")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: the store is the event's S3 origin (its bucket, in its region)."""
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
        print(json.dumps({**log, "status": response.get("status")}, default=str))
        return response
    return handle(event, store, document)


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


def _text(status: int, reason: str, message: str, cache_control: str) -> dict[str, Any]:
    return {
        "status": str(status),
        "statusDescription": reason,
        "headers": _headers(content_type="text/plain; charset=utf-8", cache_control=cache_control),
        "body": message[:200] + "\n",
        "bodyEncoding": "text",
    }


def _redirect(status: int, key: str, cache_control: str) -> dict[str, Any]:
    return {
        "status": str(status),
        "statusDescription": "Found" if status == 302 else "Temporary Redirect",
        "headers": _headers(location="/" + url_path(key), cache_control=cache_control),
    }


def handle(event: dict[str, Any], store: Store, document: Document) -> dict[str, Any]:
    """Answer one origin-response event; never raises, never answers 5xx for bad input."""
    started = time.monotonic()
    log: dict[str, Any] = {}
    try:
        cf = event["Records"][0]["cf"]
        log.update(uri=cf["request"].get("uri"), status_in=cf["response"].get("status"))
        response = _handle(cf, store, document, log)
    except Exception as exc:  # the last line of defence: a bug must not become a viewer-facing crash loop
        log.update(outcome="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=8))
        response = _text(503, "Service Unavailable", "variant temporarily unavailable", "no-store")
    log["status"] = response["status"]
    log["ms"] = round((time.monotonic() - started) * 1000, 1)
    print(json.dumps(log, sort_keys=True, default=str))
    return response


def _handle(cf: dict[str, Any], store: Store, document: Document, log: dict[str, Any]) -> dict[str, Any]:
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
        if alias is None:
            log["outcome"] = "pass"
            return origin_response
        target = document.outputs(alias.preset)[0].key(alias.source_key, document.prefix)
        log.update(outcome="alias", preset=alias.preset, location=target)
        return _redirect(302, target, document.cache_control["alias"])
    log["preset"] = variant.preset
    try:
        resolved = document.resolve(variant)
        if resolved is None:
            raise NotServed(f"{variant.preset}.{variant.fingerprint} is not a served preset revision")
        spec, source_key = resolved
        if source_key.startswith(document.prefix):
            raise NotServed("a variant is never made from a variant")
        data = store.read(source_key, document.limits.max_source_bytes)
        log["source_bytes"] = len(data)
        rendered = render(data, spec, document.limits)
    except EdgeError as exc:
        log.update(outcome=type(exc).__name__, error=str(exc))
        return _text(exc.status, exc.reason, exc.public, errors_cache)
    log.update(
        source_pixels=rendered.source_width * rendered.source_height,
        source_size=f"{rendered.source_width}x{rendered.source_height}",
        output_bytes=len(rendered.data),
        output_pixels=rendered.width * rendered.height,
        pixels=f"{rendered.width}x{rendered.height}",
        format=rendered.format,
    )
    try:
        store.write(key, rendered.data, rendered.content_type, document.cache_control["variant"])
        stored, cache_control = True, document.cache_control["variant"]
    except Exception as exc:
        log["write_error"] = f"{type(exc).__name__}: {exc}"
        stored, cache_control = False, document.cache_control["uncached"]
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
