"""Origin-response events of the documented CloudFront shape for the edge tests, and what Lambda passes with them."""

from __future__ import annotations

from imagevariants.edge.events import origin_response_event

#: The documented miss for a URI (already percent-encoded): ``miss(uri, status="403", bucket, region)``, the
#: edge's own builder (the local edge and the bundle verifier build their events with it too).
miss = origin_response_event


def response_of(event: dict) -> dict:
    return event["Records"][0]["cf"]["response"]


class Context:
    """What Lambda passes as ``context``: the remaining time of the invocation."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "imagevariants-edge"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
