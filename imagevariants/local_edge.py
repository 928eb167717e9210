"""The local edge: CloudFront-in-front-of-S3 behaviour on a Django route, running the real edge handler.

The route answers only what the edge exists for: variant keys of the published revisions, of sources the
document allows, and seed-style aliases of them. Anything else (an original, any other file of the storage, a
folder) is a 404 without a look at the storage: the route runs with the site's own credentials and on the site's
own origin, so it must never become a way around the storage's access rules or a host for uploaded HTML. Tags
link originals to the storage's own URL when no CDN is configured (``variants.original_url``).

A stored variant is served only if its bytes are an image of the preset's output format, with that format's
Content-Type, never one guessed from the key. A missing one becomes a real origin-response event (the origin
said 404), the same handler that runs in Lambda@Edge answers it over the configured storage, and its response is
checked against the Lambda@Edge rules before it is served, so a response Lambda@Edge would turn into a 502 fails
here too. A variant is made once per process however many requests ask for it at once, and at most
``MAX_RENDERS`` are made at a time; past that the route answers 503 with ``Retry-After``.

With a CDN configured, the route serves nothing: the CDN serves the variants and the web process makes none.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
from collections.abc import Callable
from typing import IO, Any

from botocore.exceptions import ClientError
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import Storage
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_safe
from PIL import Image

from . import conf
from .edge.errors import BadKey, Busy
from .edge.events import origin_response_event
from .edge.formats import FORMATS, SOURCE_FORMATS
from .edge.handler import RETRY_AFTER, error_response, respond
from .edge.keys import check_key, parse_key, parse_seed_alias, url_path
from .edge.lambda_rules import violations
from .edge.limits import Deadline
from .edge.presets import Document
from .edge.spec import Spec
from .edge.store import Store
from .exceptions import LambdaRuleViolation
from .publishing import published_document
from .storage_store import store_for
from .variants import base_url

logger = logging.getLogger(__name__)
#: The edge handler's line per request (in Lambda, the same JSON is one line on stdout).
edge_logger = logging.getLogger("imagevariants.edge")

#: Variants this process renders at once; a request for another one meanwhile is answered 503.
MAX_RENDERS = 2
#: Seconds a request waits for a render of the same variant by another request of this process.
FLIGHT_WAIT_SECONDS = 60.0
#: Seconds the edge handler may spend on one variant here (Lambda's origin-response trigger allows 30).
DEADLINE_SECONDS = 25.0


class _Flight:
    """One render of one variant in this process; the requests that arrive meanwhile wait for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: dict[str, Any] | None = None  # the handler's answer; None: it was found stored


_renders = threading.BoundedSemaphore(MAX_RENDERS)
_flights_lock = threading.Lock()
_flights: dict[str, _Flight] = {}


def _miss_event(key: str, host: str) -> dict[str, Any]:
    """The origin-response event CloudFront sends when the origin answers 404 for ``key`` on ``host``."""
    return origin_response_event(
        "/" + url_path(key), "404", "local", conf.settings().region, distribution=host, client_ip="127.0.0.1"
    )


def log_request(log: dict[str, Any]) -> None:
    """The edge's log line of a request, through ``logging`` (logger ``imagevariants.edge``) rather than on stdout
    as in Lambda: INFO, WARNING when the edge answered 5xx, ERROR when the handler failed."""
    status = str(log.get("status", ""))
    level = logging.ERROR if log.get("outcome") == "error" else logging.WARNING if status[:1] == "5" else logging.INFO
    edge_logger.log(level, "%s", json.dumps(log, sort_keys=True, default=str), extra={"edge": log})


def answer_miss(key: str, host: str, store: Store, document: Document) -> dict[str, Any]:
    """What the edge answers to the origin's 404 for ``key``, run in this process over ``store``.

    The handler Lambda runs (:func:`~imagevariants.edge.handler.respond`, which makes the variant with
    :func:`~imagevariants.edge.handler.make_variant`), on the event CloudFront would send, within
    ``DEADLINE_SECONDS``: how the route and ``warm_variants`` make a variant on the local edge.
    """
    return respond(_miss_event(key, host), store, document, Deadline(DEADLINE_SECONDS), log_request)


def to_http_response(response: dict[str, Any], mount: str = "/") -> HttpResponse:
    """Serve a Lambda@Edge response dict after checking it against the rules Lambda@Edge enforces.

    ``mount`` is the URL path the edge's root is served under; a ``Location`` the handler gives relative to the
    distribution's root is moved under it.
    """
    problems = violations(response)
    if problems:
        raise LambdaRuleViolation("Edge handler response breaks Lambda@Edge rules: " + "; ".join(problems))
    body = response.get("body", "")
    content = base64.b64decode(body) if response.get("bodyEncoding") == "base64" else body.encode("utf-8")
    headers = {h["key"]: h["value"] for values in response.get("headers", {}).values() for h in values}
    location = next((value for key, value in headers.items() if key.lower() == "location"), None)
    if location is not None:
        http: HttpResponse = HttpResponseRedirect(mount + location[1:] if location.startswith("/") else location)
        http.status_code = int(response["status"])
        http.content = content
    else:
        http = HttpResponse(content, status=int(response["status"]))
    for key, value in headers.items():
        if key.lower() != "location":
            http.headers[key] = value
    return http


#: Pillow's names of the output formats: the only plugins that may parse a stored variant's header.
_ENCODED = tuple(fmt.pillow for fmt in FORMATS.values())


def image_format(file: IO[bytes]) -> str | None:
    """The output format (``jpeg``, ``png``, ``webp``, ``avif``, ``gif``) Pillow finds the file to be, or None.

    Only the header is parsed (no pixels are decoded), by the plugins of the output formats alone; the file is
    left at its start.
    """
    try:
        with Image.open(file, formats=_ENCODED) as image:
            found = SOURCE_FORMATS.get(image.format or "")
        file.seek(0)
    except Exception:  # not an image of an output format, one Pillow refuses to open, an unreadable file
        return None
    return found


def _nosniff(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark every response of the route, errors included, ``X-Content-Type-Options: nosniff``."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except LambdaRuleViolation:
            raise  # a bug of the handler's: let it show as one
        except Exception:  # the storage failing (an S3 outage): a short uncached 503, never the site's 500 page
            logger.exception("The local edge could not answer %s", request.path)  # pragma: no mutate
            response = _text(503, "Service Unavailable", "no-store")
            response.headers["Retry-After"] = str(RETRY_AFTER)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return wrapped


def _text(status: int, message: str, cache_control: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["Cache-Control"] = cache_control
    return response


def _not_found(document: Document | None) -> HttpResponse:
    return _text(404, "Not Found", document.cache_control["error"] if document else "no-store")


def _busy() -> dict[str, Any]:
    """The edge's 503 of a full local edge (``edge.errors.Busy``), with ``Retry-After``."""
    return error_response(Busy("the local edge renders as many variants as it may"), "no-store")


def _stored(storage: Storage, key: str, spec: Spec, document: Document) -> HttpResponse | None:
    """The stored variant at ``key`` as an image response; None when none is stored; a 404 for anything else.

    Its Content-Type is the spec's output format, and its bytes must be an image of that format (of any output
    format when the spec keeps the source's, which its bytes then tell).
    """
    try:
        if not storage.exists(key):
            return None
        file = storage.open(key, "rb")
    except (OSError, SuspiciousFileOperation, ValueError):  # a folder, a name the storage refuses
        return _not_found(document)
    except ClientError as exc:
        if _status(exc) == 403:  # S3 without s3:ListBucket answers a missing key's HEAD with 403
            return None
        raise
    fmt = image_format(file)
    if fmt is None or (spec.format is not None and fmt != spec.format):
        file.close()
        logger.warning("Not serving %r: its bytes are not the preset's output format.", key)  # pragma: no mutate
        return _not_found(document)
    served = FileResponse(file, content_type=FORMATS[fmt].mime)
    served.headers["Cache-Control"] = document.cache_control["variant"]
    return served


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _from_edge(response: dict[str, Any]) -> HttpResponse:
    return to_http_response(response, mount=base_url())


def _lead(storage: Storage, key: str, host: str, document: Document) -> dict[str, Any] | None:
    """Make the variant as the one request of this process that may; None when it is stored meanwhile."""
    try:
        if storage.exists(key):  # stored by a flight that ended between our look and this one
            return None
    except (OSError, SuspiciousFileOperation, ValueError):
        pass
    except ClientError as exc:
        if _status(exc) != 403:
            raise
    if not _renders.acquire(blocking=False):
        return _busy()
    try:
        return answer_miss(key, host, store_for(storage), document)
    finally:
        _renders.release()


def _make(storage: Storage, key: str, spec: Spec, host: str, document: Document) -> HttpResponse:
    """Run the handler for a missing variant, once per process for concurrent requests of the same key."""
    with _flights_lock:
        flight = _flights.get(key)
        leading = flight is None
        if flight is None:
            flight = _flights[key] = _Flight()
    if leading:
        try:
            flight.response = _lead(storage, key, host, document)
        finally:
            with _flights_lock:
                del _flights[key]
            flight.done.set()
        if flight.response is not None:
            return _from_edge(flight.response)
    elif not flight.done.wait(FLIGHT_WAIT_SECONDS):
        return _from_edge(_busy())
    served = _stored(storage, key, spec, document)
    if served is not None:
        return served
    return _from_edge(flight.response) if flight.response is not None else _not_found(document)


@_nosniff
@require_safe
def serve(request: HttpRequest, key: str) -> HttpResponse:
    """Serve the variant ``key`` from the storage, or run the edge handler for it like CloudFront would on a miss.

    Only variant keys of served revisions (of sources the document allows) and seed aliases are answered.
    """
    if not conf.settings().local_mode:
        return _not_found(None)  # the CDN serves the variants: this process neither serves nor makes any
    document = published_document()
    if document is None:
        return _not_found(None)
    try:
        check_key(key)
    except BadKey as exc:
        return _text(exc.status, f"{exc.reason}: bad key", document.cache_control["error"])
    variant = parse_key(key, document.prefix)
    if variant is None:
        alias = parse_seed_alias(key, frozenset(document.presets))
        if alias is None or not document.allows_source(alias.source_key):
            return _not_found(document)  # an original or any other file: never served here
        event = _miss_event(key, request.get_host())
        response = respond(event, store_for(conf.source_storage), document, write_log=log_request)  # a redirect
        if response is event["Records"][0]["cf"]["response"]:
            return _not_found(document)  # passed through untouched: the origin's own 404
        return _from_edge(response)
    resolved = document.resolve(variant)
    if resolved is None or not document.allows_source(resolved[1]):
        return _not_found(document)
    spec = resolved[0]
    storage = conf.source_storage
    served = _stored(storage, key, spec, document)
    if served is not None:
        return served
    return _make(storage, key, spec, request.get_host(), document)
