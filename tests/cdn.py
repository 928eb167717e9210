"""A stand-in for CloudFront in front of an S3 bucket on the moto server, with the edge function attached.

moto does not serve a distribution's content, so this HTTP server does what CloudFront does for the variant
behaviour: a hit answers from its cache; a miss fetches the object from S3 and, when S3 answers 403/404, runs the
origin-response handler with an event of the documented shape (the function's own S3 client writes the variant).
It records every request, so tests check what a client sent to the CDN.
"""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.exceptions import ClientError

from imagevariants.edge.handler import respond
from imagevariants.edge.keys import decode_uri
from imagevariants.edge.presets import Document
from imagevariants.edge.store import S3Store
from tests.edge.events import miss


class StandInCDN:
    def __init__(self, bucket: str, region: str, document: Document) -> None:
        self.bucket, self.region, self.document = bucket, region, document
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers) as received
        self.cache: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.generated = 0  # responses the edge function made
        self.lock = threading.Lock()
        self.s3 = boto3.client("s3", region_name=region)  # CloudFront's own reads, not the site's
        self.store = S3Store(bucket, region, "", client=boto3.client("s3", region_name=region))
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, headers, body = cdn.answer(self.path, dict(self.headers))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInCDN:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((path, headers))
            if path in self.cache:
                status, cached_headers, body = self.cache[path]
                return status, {**cached_headers, "X-Cache": "Hit from cloudfront"}, body
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=decode_uri(path))
            status, body = 200, stored["Body"].read()
            answer = {"Content-Type": stored["ContentType"], "Cache-Control": stored.get("CacheControl", "")}
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "AccessDenied", "404", "403"):
                raise
            response = respond(miss(path, "404", self.bucket, self.region), self.store, self.document)
            with self.lock:
                self.generated += 1
            status = int(response["status"])
            encoded = response.get("body", "")
            body = base64.b64decode(encoded) if response.get("bodyEncoding") == "base64" else encoded.encode()
            answer = {h["key"]: h["value"] for values in response.get("headers", {}).values() for h in values}
        if status == 200 and "immutable" in answer.get("Cache-Control", ""):
            with self.lock:
                self.cache[path] = (status, answer, body)
        return status, {**answer, "X-Cache": "Miss from cloudfront"}, body
