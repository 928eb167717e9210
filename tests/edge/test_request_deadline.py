"""One deadline per request: a stalled S3 or a slow render is answered (503, logged) before Lambda kills the function.

The stalled S3 is a real TCP server on 127.0.0.1 that accepts connections and never answers; the handler is the
Lambda entry point, given a context object as Lambda gives one.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from imagevariants.edge import handler as handler_module
from imagevariants.edge import store as store_module
from imagevariants.edge.errors import OutOfTime
from imagevariants.edge.handler import respond
from imagevariants.edge.limits import Deadline
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from tests import images
from tests.edge.conftest import MemoryStore
from tests.edge.events import Context, miss

SOURCE = "images/my photo-2024.jpg"


class SteppingClock:
    """A monotonic clock that moves ``step`` seconds each time it is read: a render that takes time, without waiting."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def uri(document: Document, preset: str = "md", index: int = 0) -> str:
    from imagevariants.edge.keys import url_path

    return "/" + url_path(document.outputs(preset)[index].key(SOURCE, document.prefix))


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def header(response: dict, name: str) -> list[str]:
    return [h["value"] for h in response["headers"].get(name, [])]


@pytest.fixture
def stalled_s3(monkeypatch) -> Iterator[list[socket.socket]]:
    """An S3 endpoint that accepts connections and never answers, reached through AWS_ENDPOINT_URL_S3."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # held open, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    for name, value in {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{server.getsockname()[1]}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    store_module.s3_client.cache_clear()
    yield accepted
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()
    store_module.s3_client.cache_clear()


def test_a_stalled_s3_is_answered_before_the_invocation_ends(baked, stalled_s3, capsys):
    """S3 accepts the connection and never answers: a 503 with Retry-After, uncached, logged, within the context's
    remaining time (today: 40 s of retries, then a 503 with no log line until then)."""
    remaining_ms = 4000
    response = handler_module.lambda_handler(miss(uri(baked)), Context(remaining_ms))
    assert response["status"] == "503"
    assert header(response, "retry-after") == ["5"]
    assert header(response, "cache-control") == ["no-store"]
    [log] = log_lines(capsys)
    assert log["outcome"] == "OutOfTime" and "reading the source" in log["error"]
    assert log["ms"] < remaining_ms  # answered before Lambda's own limit: the log line is written
    assert stalled_s3  # the client did reach the stalled endpoint


def test_no_time_left_means_no_read_and_no_render(document, capsys):
    store = MemoryStore({SOURCE: images.jpeg(800, 600)})
    response = respond(miss(uri(document)), store, document, Deadline(0.0))
    assert response["status"] == "503" and store.reads == [] and store.written == {}
    assert log_lines(capsys)[0]["outcome"] == "OutOfTime"


def test_a_render_that_runs_out_of_time_writes_nothing(document, monkeypatch, capsys):
    """The deadline passes between the render's steps: the render stops there, nothing is written."""
    store = MemoryStore({SOURCE: images.jpeg(800, 600)})
    checks: list[str] = []
    original = Deadline.check

    def check(self, step, needs=0.0):
        checks.append(step)
        if step == "encoding":
            raise OutOfTime("injected: the clock passed the deadline while resizing")
        return original(self, step, needs)

    monkeypatch.setattr(Deadline, "check", check)
    response = respond(miss(uri(document)), store, document)
    assert response["status"] == "503" and store.written == {}
    assert checks[:4] == ["reading the source", "rendering", "decoding", "resizing"]


def test_each_animation_frame_is_within_the_deadline(capsys):
    """A 40-frame GIF with a clock that moves 1 s a read and a 10 s deadline: stopped mid-animation."""
    document = Document.build({"anim": [Spec(50, format="gif")]})
    store = MemoryStore({"images/a.gif": images.animated_gif(40)})
    key = document.outputs("anim")[0].key("images/a.gif", document.prefix)
    response = respond(miss("/" + key), store, document, Deadline(10.0, clock=SteppingClock(1.0)))
    assert response["status"] == "503" and store.written == {}
    [log] = log_lines(capsys)
    assert log["outcome"] == "OutOfTime" and "frame" in log["error"]


def test_too_little_time_to_store_serves_the_variant_uncached_without_writing(document, monkeypatch, capsys):
    store = MemoryStore({SOURCE: images.jpeg(800, 600)})
    original = Deadline.check

    def check(self, step, needs=0.0):
        if step == "storing the variant":
            raise OutOfTime("no time left for storing the variant")
        return original(self, step, needs)

    monkeypatch.setattr(Deadline, "check", check)
    response = respond(miss(uri(document)), store, document)
    assert response["status"] == "200" and store.written == {}
    assert header(response, "cache-control") == ["no-store"]
    assert "storing the variant" in log_lines(capsys)[0]["write_error"]


def test_the_deadline_comes_from_the_lambda_context():
    assert Deadline.from_context(Context(30_000)).remaining() == pytest.approx(28.5, abs=0.1)
    assert Deadline.from_context(Context(1000)).remaining() == 0.0  # under the margin: nothing may start
    assert Deadline.from_context(None).remaining() == pytest.approx(28.0, abs=0.1)  # no context: the trigger's 30 s


def test_s3_access_denied_is_logged_as_such(baked, s3_env, capsys):
    """S3 answers AccessDenied (the role may not read there): a 404 to the viewer, "SourceForbidden" in the log.

    The 403 is S3's own error document, answered on the wire by a botocore hook (moto does not enforce IAM).
    """
    from botocore.awsrequest import AWSResponse

    body = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>Denied</Message></Error>"

    class Raw:
        def stream(self, **kwargs):
            yield body

    def deny(request, **kwargs):
        return AWSResponse(request.url, 403, {"Content-Type": "application/xml"}, Raw())

    client = store_module.s3_client("eu-west-1")
    client.meta.events.register_first("before-send.s3.GetObject", deny)
    response = handler_module.lambda_handler(miss(uri(baked)), Context(30_000))
    assert response["status"] == "404"
    [log] = log_lines(capsys)
    assert log["outcome"] == "SourceForbidden" and "access denied" in log["error"]


def test_boto_client_timeouts_fit_inside_the_trigger():
    """Every try of an S3 call, connect plus read, times its attempts, fits inside the trigger's 30 s."""
    config = store_module.s3_client("us-east-1").meta.config
    attempts = config.retries["total_max_attempts"]
    assert attempts * (config.connect_timeout + config.read_timeout) < 30 - 2 * Deadline.MARGIN_MS / 1000
