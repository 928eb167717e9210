"""The rules Lambda@Edge enforces on a response generated at origin-response (breaking one is a 502)."""

from __future__ import annotations

import json
from typing import Any

#: A generated response, headers and body together, may not exceed 1 MB (1,048,576 bytes).
MAX_GENERATED_RESPONSE = 1_048_576
#: What the handler allows itself, to keep a margin for what CloudFront adds around it.
RESPONSE_BUDGET = 1_000_000

DISALLOWED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "x-cache",
        "x-forwarded-proto",
        "transfer-encoding",
        "via",
    }
)
DISALLOWED_PREFIXES = ("x-amz-cf-", "x-edge-")
ALLOWED_FIELDS = frozenset({"status", "statusDescription", "headers", "body", "bodyEncoding"})


def response_size(response: dict[str, Any]) -> int:
    """Bytes of headers and (encoded) body of a generated response, as Lambda@Edge counts them."""
    headers = json.dumps(response.get("headers", {}), separators=(",", ":"))
    return len(headers.encode("utf-8")) + len(response.get("body", "").encode("utf-8"))


def _header_entry(entry: object, name: str) -> bool:
    """Whether ``entry`` is a ``{'key', 'value'}`` of header ``name``: a string value, and a string key (if any)
    naming that header."""
    if not (isinstance(entry, dict) and set(entry) <= {"key", "value"} and isinstance(entry.get("value"), str)):
        return False
    key = entry.get("key", name)
    return isinstance(key, str) and key.lower() == name.lower()


def violations(response: dict[str, Any]) -> list[str]:
    """Every way ``response`` breaks the origin-response rules; an empty list when it is acceptable."""
    problems = [f"unknown field {name!r}" for name in sorted(set(response) - ALLOWED_FIELDS)]
    status = response.get("status")
    if not (isinstance(status, str) and status.isdigit() and len(status) == 3):
        problems.append(f"status must be a three-digit string, not {status!r}")
    headers = response.get("headers", {})
    if not isinstance(headers, dict):
        return [*problems, "headers must be a dict"]
    for name, values in headers.items():
        if name != name.lower():
            problems.append(f"header name {name!r} is not lower case")
        if name.lower() in DISALLOWED_HEADERS or name.lower().startswith(DISALLOWED_PREFIXES):
            problems.append(f"header {name!r} may not be set")
        if not isinstance(values, list) or not all(_header_entry(v, name) for v in values):
            problems.append(f"header {name!r} must be a list of {{'key', 'value'}} with a matching key")
    if "body" in response:
        if not isinstance(response["body"], str):
            problems.append("body must be a string")
        if response.get("bodyEncoding", "text") not in ("text", "base64"):
            problems.append("bodyEncoding must be 'text' or 'base64'")
        if isinstance(response["body"], str) and response_size(response) > MAX_GENERATED_RESPONSE:
            problems.append(f"generated response is {response_size(response)} bytes, over {MAX_GENERATED_RESPONSE}")
    return problems
