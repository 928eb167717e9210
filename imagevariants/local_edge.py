"""The local edge: CloudFront-in-front-of-S3 behaviour on a Django route, running the real edge handler.

A stored object is served as it is. A missing one becomes a real origin-response event (the origin said 404),
the same handler that runs in Lambda@Edge answers it over the configured storage, and its response is checked
against the Lambda@Edge rules before it is served, so a response Lambda@Edge would turn into a 502 fails here too.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_safe

from . import conf
from .edge.handler import handle
from .edge.keys import url_path
from .edge.lambda_rules import violations
from .publishing import published_document
from .storage_store import store_for
from .variants import base_url


class LambdaRuleViolation(ImproperlyConfigured):
    """The handler produced a response that Lambda@Edge would refuse with a 502."""


def origin_response_event(key: str, host: str, status: str = "404") -> dict[str, Any]:
    """An origin-response event of the documented CloudFront shape for a miss on ``key``."""
    reason = {"403": "Forbidden", "404": "Not Found"}.get(status, "")
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": host,
                        "distributionId": "LOCALEDGE",
                        "eventType": "origin-response",
                        "requestId": "local",
                    },
                    "request": {
                        "clientIp": "127.0.0.1",
                        "headers": {"host": [{"key": "Host", "value": host}]},
                        "method": "GET",
                        "origin": {
                            "s3": {
                                "authMethod": "none",
                                "customHeaders": {},
                                "domainName": "local.s3.amazonaws.com",
                                "path": "",
                                "region": conf.get("REGION"),
                            }
                        },
                        "querystring": "",
                        "uri": "/" + url_path(key),
                    },
                    "response": {
                        "headers": {"content-type": [{"key": "Content-Type", "value": "application/xml"}]},
                        "status": status,
                        "statusDescription": reason,
                    },
                }
            }
        ]
    }


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


@require_safe
def serve(request: HttpRequest, key: str) -> HttpResponse:
    """Serve ``key`` from the storage, or run the edge handler for it like CloudFront would on a miss."""
    storage = conf.source_storage
    document = published_document()
    try:
        exists = storage.exists(key)
    except SuspiciousFileOperation:
        raise Http404("No such object.") from None
    if exists:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        served = FileResponse(storage.open(key, "rb"), content_type=content_type)
        if document and key.startswith(document.prefix):
            served.headers["Cache-Control"] = document.cache_control["variant"]
        return served
    if document is None:
        raise Http404("No presets are published.")
    event = origin_response_event(key, request.get_host())
    response = handle(event, store_for(storage), document)
    if response is event["Records"][0]["cf"]["response"]:
        raise Http404("No such object.")  # passed through untouched: the origin's own 404
    return to_http_response(response, mount=base_url())
