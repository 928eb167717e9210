"""The origin-response handler, fed events of the documented CloudFront shape."""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagevariants.edge.handler import respond
from imagevariants.edge.keys import url_path
from imagevariants.edge.lambda_rules import RESPONSE_BUDGET, response_size, violations
from tests import images
from tests.edge.conftest import MemoryStore
from tests.edge.events import miss, response_of

SOURCE = "images/my photo-2024.jpg"


def uri(document, preset, source=SOURCE, index=0):
    return "/" + url_path(document.outputs(preset)[index].key(source, document.prefix))


def header(response, name):
    return [h["value"] for h in response["headers"].get(name, [])]


#: Lambda@Edge's documented limit on a response generated at origin-response, headers and body: 1 MB. Breaking
#: it makes CloudFront answer 502.
LAMBDA_EDGE_LIMIT = 1_048_576


def serialized(response: dict) -> int:
    """Bytes of the whole response as the function returns it (JSON): never less than its headers and body."""
    return len(json.dumps(response, separators=(",", ":")).encode("utf-8"))


@pytest.mark.parametrize("preset, index, size, content_type", [
    ("sm", 0, (100, 75), "image/jpeg"),
    ("sm", 1, (100, 75), "image/webp"),
    ("md", 1, (250, 188), "image/avif"),
    ("box", 0, (200, 200), "image/png"),
])  # fmt: skip
@pytest.mark.parametrize("status", ["403", "404"])
def test_generates_stores_and_returns_the_variant(document, store, preset, index, size, content_type, status):
    event = miss(uri(document, preset, index=index), status)
    response = respond(event, store, document)
    assert violations(response) == []
    assert response["status"] == "200" and response["bodyEncoding"] == "base64"
    assert set(response["headers"]) == {"content-type", "cache-control"}  # nothing of S3's error leaks through
    assert header(response, "content-type") == [content_type]
    assert header(response, "cache-control") == ["public, max-age=31536000, immutable"]
    body = base64.b64decode(response["body"])
    assert images.decode(body).size == size
    key = document.outputs(preset)[index].key(SOURCE, document.prefix)
    assert store.written == {key: (body, content_type, "public, max-age=31536000, immutable")}
    assert store.reads == [SOURCE]


@pytest.mark.parametrize("status", ["200", "206", "304", "500", "503"])
def test_other_origin_responses_pass_through_untouched(document, store, status):
    event = miss(uri(document, "md"), status)
    assert respond(event, store, document) is response_of(event)
    assert store.reads == [] and store.written == {}


@pytest.mark.parametrize("path", ["/images/my%20photo-2024.jpg", "/images/my-photo.png", "/robots.txt", "/_v/"])
def test_misses_that_are_not_variants_pass_through(document, store, path):
    event = miss(path)
    assert respond(event, store, document) is response_of(event)
    assert store.reads == [] and store.written == {}


def test_seed_style_url_redirects_to_the_canonical_variant(document, store):
    response = respond(miss("/images/test-md.png"), store, document)
    assert violations(response) == []
    assert response["status"] == "302"
    assert header(response, "location") == [uri(document, "md", "images/test.png")]
    assert header(response, "cache-control") == ["public, max-age=300"]
    assert store.reads == [] and store.written == {}


@pytest.mark.parametrize(
    "path, status, read",
    [
        ("/_v/md.00000000/images/my%20photo-2024.jpg", "404", None),  # a revision the document does not list
        ("/_v/huge.12345678/images/my%20photo-2024.jpg", "404", None),  # a preset it does not list
        ("WRONG-EXT", "404", None),  # a converting revision asked without its extension
        ("VARIANT-OF-VARIANT", "404", None),  # the inner variant is stored: only the refusal makes this a 404
        ("MISSING", "404", "images/missing.jpg"),
        ("CORRUPT", "415", "images/corrupt.jpg"),
        ("BOMB", "413", "images/bomb.png"),
    ],
)
def test_bad_requests_get_a_short_lived_4xx_and_nothing_is_written(document, store, path, status, read):
    store.objects["images/corrupt.jpg"] = images.jpeg()[:300]
    store.objects["images/bomb.png"] = images.png_header(60000, 60000)
    store.objects[document.outputs("md")[0].key(SOURCE, document.prefix)] = images.jpeg(250, 188)
    path = {
        "WRONG-EXT": uri(document, "sm", index=1).removesuffix(".webp"),
        "VARIANT-OF-VARIANT": uri(document, "sm", document.outputs("md")[0].key(SOURCE, document.prefix)),
        "MISSING": uri(document, "md", "images/missing.jpg"),
        "CORRUPT": uri(document, "md", "images/corrupt.jpg"),
        "BOMB": uri(document, "md", "images/bomb.png"),
    }.get(path, path)
    response = respond(miss(path), store, document)
    assert violations(response) == []
    assert response["status"] == status
    assert header(response, "cache-control") == ["public, max-age=60"]
    assert header(response, "content-type") == ["text/plain; charset=utf-8"]
    assert response["bodyEncoding"] == "text" and len(response["body"]) <= 201
    assert store.reads == ([read] if read else [])
    assert store.writes == []


def test_a_variant_is_never_made_from_a_variant(document, store, monkeypatch):
    """The handler refuses a variant key as a source itself, whatever the document's source rule says (which
    refuses the variant prefix too): with a rule that allowed every key, the stored inner variant is still not
    read, and nothing is made of it."""
    from imagevariants.edge.presets import Document

    inner = document.outputs("md")[0].key(SOURCE, document.prefix)
    store.objects[inner] = images.jpeg(250, 188)
    path = uri(document, "sm", inner)
    for allows_source in (Document.allows_source, lambda self, key: True):
        monkeypatch.setattr(Document, "allows_source", allows_source)
        response = respond(miss(path), store, document)
        assert violations(response) == []
        assert response["status"] == "404"
        assert response["body"] == "Not Found: a variant is never made from a variant\n"
        assert header(response, "cache-control") == ["public, max-age=60"]
        assert store.reads == [] and store.writes == []


HOSTILE = [
    "/_v/md.58fd6dfd/../../etc/passwd",
    "/_v/md.58fd6dfd/images/%2e%2e/%2e%2e/secret.jpg",
    "/_v/md.58fd6dfd/images%2Fmy%20photo-2024.jpg",
    "/_v/md.58fd6dfd/images/a%00b.jpg",
    "/_v/md.58fd6dfd/images/a%7Fb.jpg",
    "/_v/md.58fd6dfd/images/%ff%fe%fd.jpg",
    "/_v/md.58fd6dfd/" + "a/" * 600 + "x.jpg",
    "/_v/md.58fd6dfd//images/x.jpg",
    "/_v/md.58fd6dfd/images\\x.jpg",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_keys_are_refused_without_any_io(document, store, path):
    response = respond(miss(path), store, document)
    assert violations(response) == []
    assert response["status"] == "400" and response["statusDescription"] == "Bad Request"
    assert header(response, "cache-control") == ["public, max-age=60"]  # the error lifetime, never a variant's
    assert header(response, "content-type") == ["text/plain; charset=utf-8"]
    assert response["body"] == "bad key\n" and response["bodyEncoding"] == "text"
    assert store.reads == [] and store.writes == []


def test_a_failed_write_still_returns_the_image_uncached(document, store):
    store.fail_writes = True
    response = respond(miss(uri(document, "md")), store, document)
    assert response["status"] == "200"
    assert header(response, "cache-control") == ["no-store"]
    assert images.decode(base64.b64decode(response["body"])).width == 250


def test_responses_over_the_limit_are_stored_then_redirected(store):
    from imagevariants.edge.presets import Document
    from imagevariants.edge.spec import Spec

    document = Document.build({"big": [Spec(700, format="png")]})
    store.objects["images/noise.png"] = images.noise_png(700, 500)  # incompressible: about 1 MB as PNG
    path = uri(document, "big", "images/noise.png")
    response = respond(miss(path), store, document)
    assert violations(response) == []
    assert response["status"] == "307"
    assert header(response, "location") == [path]  # the same URL: the next request finds it in S3
    assert header(response, "cache-control") == ["no-store"]
    [(key, data, content_type, cache_control)] = store.writes
    assert "/" + url_path(key) == path and content_type == "image/png"
    assert cache_control == "public, max-age=31536000, immutable"  # stored as any variant: the redirect finds it
    assert len(base64.b64encode(data)) > LAMBDA_EDGE_LIMIT  # inline, Lambda@Edge would have answered 502

    store.written.clear()
    store.writes.clear()
    store.fail_writes = True  # not stored: a redirect would loop, so a non-cacheable 503 instead
    response = respond(miss(path), store, document)
    assert response["status"] == "503" and header(response, "cache-control") == ["no-store"]


@pytest.mark.parametrize(
    "height, expected",
    [
        (300, "200"),  # about 840 kB of base64: well inside the limit
        (355, "200"),  # about 996 kB: inside the limit with little to spare, still inline
        (385, "307"),  # about 1.08 MB: over the limit, if only just
        (400, "307"),  # 842 kB of PNG, 1.12 MB of base64: over the limit only once encoded
        (500, "307"),  # 1.05 MB of PNG
    ],
)
def test_inline_responses_fit_lambda_edges_limit(store, height, expected):
    """Real responses, measured whole, against the documented limit rather than the handler's own arithmetic:
    whatever comes back inline fits, and a variant whose base64 text would not fit is stored and redirected."""
    from imagevariants.edge.presets import Document
    from imagevariants.edge.spec import Spec

    document = Document.build({"big": [Spec(700, format="png")]})
    store.objects["images/noise.png"] = images.noise_png(700, height)  # incompressible: the size is known
    response = respond(miss(uri(document, "big", "images/noise.png")), store, document)
    assert violations(response) == []
    [(_, data, _, _)] = store.writes
    encoded = len(base64.b64encode(data))
    assert response["status"] == expected, (height, len(data), encoded)
    if expected == "200":
        assert base64.b64decode(response["body"]) == data
        assert serialized(response) <= LAMBDA_EDGE_LIMIT
    else:
        assert "body" not in response and serialized(response) < 1024
        if height == 400:
            assert len(data) < LAMBDA_EDGE_LIMIT < encoded  # counting the variant's bytes, not its text, fails


def test_one_json_log_line_per_invocation(document, store, capsys):
    respond(miss(uri(document, "md")), store, document)
    respond(miss("/images/test-sm.png"), store, document)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    generated = lines[0]
    assert generated["outcome"] == "generated" and generated["preset"] == "md"
    assert generated["source_bytes"] == len(store.objects[SOURCE]) and generated["output_bytes"] > 0
    assert generated["pixels"] == "250x188" and generated["ms"] >= 0 and generated["key"].startswith("_v/md.")
    assert lines[1]["outcome"] == "alias"


def test_eight_concurrent_requests_get_identical_bytes(document, store):
    path = uri(document, "md", index=2)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        barrier.wait()
        results.append(respond(miss(path), store, document)["body"])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    # Each request makes and stores the variant (no request waits for another): eight writes of the same bytes
    # under the same key, so whichever lands last, the store holds what every viewer was sent.
    key = document.outputs("md")[2].key(SOURCE, document.prefix)
    cache_control = "public, max-age=31536000, immutable"
    assert store.writes == [(key, base64.b64decode(results[0]), "image/webp", cache_control)] * 8


keys = st.one_of(
    st.text(min_size=0, max_size=300),
    st.builds(lambda p, s: f"_v/{p}/{s}", st.sampled_from(["md.58fd6dfd", "sm.00000000", "x.y", "md"]), st.text()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, data=st.binary(max_size=2000), status=st.sampled_from(["403", "404", "200", "500"]))
def test_any_key_and_bytes_get_a_well_formed_answer(document, key, data, status):
    store = MemoryStore({SOURCE: data, key: data})
    for path in ("/" + quote(key, safe="/"), "/" + key):
        event = miss(path, status)
        response = respond(event, store, document)
        assert violations(response) == [], (path, response)
        # Either the origin's own response, untouched, or an answer of ours that is never a 5xx.
        assert response is response_of(event) or int(response["status"]) < 500, (path, response)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=5000))
def test_any_bytes_as_a_source_never_crash(document, data):
    store = MemoryStore({SOURCE: data})
    response = respond(miss(uri(document, "md")), store, document)
    assert violations(response) == []
    assert response["status"] in ("200", "413", "415")


BROKEN = {
    "zero-bytes": b"",
    "not-an-image": b"hello, this is text\n" * 20,
    "truncated": images.jpeg(800, 600)[:700],
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><rect width="9" height="9"/></svg>',
    "bomb": images.png_header(60000, 60000),
    "html": b"<!doctype html><title>x</title>",
}


@pytest.mark.parametrize("name", BROKEN)
@pytest.mark.parametrize("preset, index", [("md", 0), ("md", 1), ("sm", 1), ("box", 0)])
def test_broken_sources_get_a_clear_4xx_and_nothing_is_written(document, store, name, preset, index):
    store.objects[f"images/{name}.jpg"] = BROKEN[name]
    response = respond(miss(uri(document, preset, f"images/{name}.jpg", index=index)), store, document)
    assert violations(response) == []
    assert response["status"] == ("413" if name == "bomb" else "415"), response
    assert header(response, "cache-control") == ["public, max-age=60"]
    assert response["bodyEncoding"] == "text" and len(response["body"]) <= 201
    if name != "bomb":  # the decoder's own words (exception names, object addresses) stay in the log line
        assert response["body"] == "Unsupported Media Type: the source is not an image this edge decodes\n"
    assert store.written == {}


def test_a_source_over_the_byte_limit_is_a_413(store):
    from imagevariants.edge.limits import Limits
    from imagevariants.edge.presets import Document
    from imagevariants.edge.spec import Spec

    document = Document.build({"md": [Spec(250)]}, limits=Limits(max_source_bytes=10_000))
    response = respond(miss(uri(document, "md")), store, document)
    assert response["status"] == "413" and store.written == {}


def test_the_budget_edge_exactly(document, store, monkeypatch):
    """A response of exactly the budget is returned inline; one byte less of budget and it is stored, redirected."""
    from imagevariants.edge import handler as handler_module

    path = uri(document, "md", index=2)
    size = response_size(respond(miss(path), store, document))
    monkeypatch.setattr(handler_module, "RESPONSE_BUDGET", size)
    assert respond(miss(path), store, document)["status"] == "200"
    monkeypatch.setattr(handler_module, "RESPONSE_BUDGET", size - 1)
    store.written.clear()
    store.writes.clear()
    response = respond(miss(path), store, document)
    assert response["status"] == "307" and "body" not in response and len(store.writes) == 1


def test_the_budget_keeps_a_margin_under_the_limit():
    from imagevariants.edge.lambda_rules import MAX_GENERATED_RESPONSE

    assert MAX_GENERATED_RESPONSE == LAMBDA_EDGE_LIMIT
    assert LAMBDA_EDGE_LIMIT - RESPONSE_BUDGET >= 32 * 1024


def test_the_log_line_names_sizes_and_pixels(document, store, capsys):
    respond(miss(uri(document, "md", index=2)), store, document)
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["source_pixels"] == 800 * 600 and line["source_size"] == "800x600"
    assert line["output_pixels"] == 250 * 188 and line["format"] == "webp" and line["status"] == "200"
    assert line["uri"].startswith("/_v/md.") and line["status_in"] == "403"


def test_a_malformed_event_is_answered_not_raised(document, store, capsys):
    response = respond({"Records": []}, store, document)
    assert violations(response) == [] and response["status"] == "503"
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()  # one JSON line, the traceback inside it
    assert json.loads(line)["outcome"] == "error" and "IndexError" in json.loads(line)["traceback"]
    assert captured.err == ""


def test_the_entry_point_with_an_origin_that_is_not_s3(document, monkeypatch, tmp_path):
    from imagevariants.edge import handler as handler_module

    baked = tmp_path / "presets.json"
    baked.write_text(document.to_json())
    monkeypatch.setattr(handler_module, "DOCUMENT_PATH", baked)
    handler_module.baked_document.cache_clear()
    try:
        event = miss(uri(document, "md"))
        event["Records"][0]["cf"]["request"]["origin"] = {"custom": {"domainName": "example.com"}}
        response = handler_module.lambda_handler(event, None)
        assert violations(response) == [] and response["status"] == "404"
        event = miss("/robots.txt")
        event["Records"][0]["cf"]["request"]["origin"] = {"custom": {"domainName": "example.com"}}
        assert handler_module.lambda_handler(event, None) is response_of(event)

        baked.write_text("{not json")  # a broken bundle: answered, never raised
        handler_module.baked_document.cache_clear()
        response = handler_module.lambda_handler(miss(uri(document, "md")), None)
        assert violations(response) == [] and response["status"] == "503"
        found = miss("/images/photo.jpg", status="200")  # originals still pass through untouched
        assert handler_module.lambda_handler(found, None) is response_of(found)
    finally:
        handler_module.baked_document.cache_clear()


def test_a_broken_bundle_logs_one_line_that_says_so(document, monkeypatch, tmp_path, capsys):
    """Without its document the function still answers, and its log line says why, for CloudWatch to find."""
    from imagevariants.edge import handler as handler_module

    baked = tmp_path / "presets.json"
    baked.write_text("{not json")
    monkeypatch.setattr(handler_module, "DOCUMENT_PATH", baked)
    handler_module.baked_document.cache_clear()
    try:
        capsys.readouterr()
        response = handler_module.lambda_handler(miss(uri(document, "md")), None)
        [line] = capsys.readouterr().out.splitlines()
        log = json.loads(line)
        assert log["outcome"] == "no-document" and log["status"] == "503" == response["status"]
        assert log["error"].startswith("DocumentError: presets document is not JSON")
        assert response["headers"]["cache-control"][0]["value"] == "no-store"
        malformed = {"Records": [{"cf": {"request": {}}}]}  # no response to pass through: a 503 too
        assert handler_module.lambda_handler(malformed, None)["status"] == "503"
        assert json.loads(capsys.readouterr().out)["outcome"] == "no-document"
    finally:
        handler_module.baked_document.cache_clear()
