"""Properties of the local edge route over arbitrary keys, against a storage holding arbitrary files.

Whatever is asked and whatever is stored: never a 5xx, ``nosniff`` on every answer, a 200 only for a variant of a
served revision of an allowed source and only with image bytes of the Content-Type it states, and nothing written
except, on a 200, the variant asked for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.storage import storages
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imagevariants import local_edge, publishing
from imagevariants.edge.keys import parse_key, url_path
from imagevariants.edge.presets import Document
from tests import images
from tests.security.conftest import FILES, HTML, PDF, SOURCE_PREFIXES, SVG, TEXT, Site, is_image_of_type

pytestmark = pytest.mark.django_db

CONTENTS = {
    "html": HTML,
    "svg": SVG,
    "text": TEXT,
    "pdf": PDF,
    "empty": b"",
    "jpeg": images.jpeg(40, 30),
    "truncated": images.jpeg(40, 30)[:200],
    "png": images.png(30, 20),
    "gif": images.solid("GIF"),
    "webp": images.solid("WEBP"),
    "avif": images.solid("AVIF"),
    "html-as-jpeg": b"\xff\xd8\xff" + HTML,
}
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

name = st.text(st.sampled_from("abcXYZ0189._-"), min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
folder = st.sampled_from(["images/", "uploads/", "private/", "uploads/deep/", "", "_v/"])
odd_segment = st.one_of(
    st.sampled_from(
        [".", "..", "", "%2e%2e", "%2F", "%252f", "a" * 300, "é" * 130, "images", "_v", "photo.jpg", "evil.html"]
    ),
    st.text(st.sampled_from("abcXYZ019._-~%/é ?#;\\\x00\n"), max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=8),
)
ENDINGS = ["", ".jpg", ".png", ".webp", ".avif", ".gif", ".html", ".svg", "/", "/x"]


def variants_of(document: Document, sources: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Keys of the current outputs of the published presets for those sources."""
    outputs = [output for preset in document.presets for output in document.outputs(preset)]
    return st.builds(lambda output, key: output.key(key, document.prefix), st.sampled_from(outputs), sources)


def revisions(document: Document) -> st.SearchStrategy[str]:
    """``{preset}.{fingerprint}`` of served revisions, and of revisions that are not."""
    served = [f"{n}.{fp}" for n, preset in document.presets.items() for fp in preset.revisions]
    return st.one_of(st.sampled_from(served), st.sampled_from(["sm.00000000", "md.ZZZZZZZZ", "md", "x.y", "SM.1"]))


def stored_files(document: Document) -> st.SearchStrategy[dict[str, bytes]]:
    """Files of the storage: sources anywhere, and files at variant keys (made, or planted) with any content."""
    source = st.builds(str.__add__, folder, name)
    variant = st.builds(
        lambda revision, key, ending: f"{document.prefix}{revision}/{key}{ending}",
        revisions(document),
        source,
        st.sampled_from(ENDINGS[:7]),
    )
    anything = st.sampled_from(list(CONTENTS.values()))
    pictures = st.sampled_from([CONTENTS[kind] for kind in ("jpeg", "png", "gif", "webp", "avif")])
    return st.dictionaries(
        st.one_of(source, variants_of(document, source), variant), st.one_of(pictures, anything), max_size=6
    )


def requested_keys(document: Document, stored: list[str]) -> st.SearchStrategy[str]:
    """Keys an attacker (or a page) asks for: stored files, variants and seed aliases of them, anything."""
    anything = st.lists(st.one_of(odd_segment, name), min_size=1, max_size=5).map("/".join)
    known = st.sampled_from(stored) if stored else anything
    sources = [key for key in stored if not key.startswith(document.prefix)]
    source = st.one_of(st.sampled_from(sources), st.sampled_from(sources), anything) if sources else anything
    alias = st.builds(
        lambda key, preset: (lambda stem, dot, ext: f"{stem}-{preset}{dot}{ext}")(*key.rpartition(".")),
        source,
        st.sampled_from([*document.presets, "nope"]),
    )
    variant = st.builds(
        lambda revision, key, ending: f"{document.prefix}{revision}/{key}{ending}",
        revisions(document),
        source,
        st.sampled_from(ENDINGS),
    )
    made = variants_of(document, source)
    return st.one_of(known, made, made, made, variant, alias, anything, st.text(max_size=40))


@st.composite
def paths(draw: st.DrawFn, document: Document, stored: list[str]) -> str:
    """A request path for a key: encoded once, twice, partly or not at all."""
    key = draw(requested_keys(document, stored))
    encode = draw(
        st.sampled_from(
            [url_path, lambda k: k, lambda k: quote(url_path(k), safe="/"), lambda k: quote(k, safe="/.%-_~")]
        )
    )
    return "/variants/" + encode(key)


def body(response: HttpResponse) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def check(response: HttpResponse, document: Document, before: list[str], after: list[str]) -> None:
    """The properties of one answer of the route, given the storage's keys before and after it."""
    assert response.status_code < 500, body(response)[:300]
    event(f"status {response.status_code}")
    try:
        match = resolve(response.wsgi_request.path_info)
    except Resolver404:
        return  # not the route (``/variants/`` alone): Django's own 404
    assert match.func is local_edge.serve
    assert response["X-Content-Type-Options"] == "nosniff"
    received = match.kwargs["key"]
    if response.status_code != 200:
        assert after == before, (received, response.status_code)
        return
    content = body(response)
    assert is_image_of_type(content, response["Content-Type"]), (received, response["Content-Type"], content[:40])
    variant = parse_key(received, document.prefix)
    resolved = document.resolve(variant) if variant else None
    assert resolved is not None and document.allows_source(resolved[1]), received
    assert set(before) <= set(after) <= {*before, received}


def keys_under(root: str) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(path, file), root).replace(os.sep, "/")
        for path, _, files in os.walk(root)
        for file in files
    )


@pytest.fixture
def document(settings: Any, request: pytest.FixtureRequest) -> Iterator[Document]:
    """The ``presets`` published with ``uploads/`` as a source prefix beside ``images/``."""
    settings.IMAGEVARIANTS = {"SOURCE_PREFIXES": SOURCE_PREFIXES}
    request.getfixturevalue("presets")
    published = publishing.published_document()
    assert published is not None and set(published.sources) == {"images/", "uploads/"}
    yield published


@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_route_over_arbitrary_files_and_keys(document: Document, data: st.DataObject) -> None:
    files = data.draw(stored_files(document), label="stored")
    client = Client()
    with tempfile.TemporaryDirectory() as root, override_settings(MEDIA_ROOT=root):
        assert storages["default"].location == root
        for key, content in sorted(files.items()):
            try:
                os.makedirs(os.path.dirname(os.path.join(root, key)), exist_ok=True)
                with open(os.path.join(root, key), "wb") as file:
                    file.write(content)
            except OSError:  # a file where another key needs a folder: not stored
                pass
        before = keys_under(root)
        path = data.draw(paths(document, before), label="path")
        response = client.get(path)
        check(response, document, before, keys_under(root))


@pytest.mark.parametrize("site", ["private-s3"], indirect=True)
@settings(PROPERTY_SETTINGS, max_examples=60)
@given(data=st.data())
def test_the_route_over_a_private_bucket(site: Site, data: st.DataObject) -> None:
    document = publishing.published_document()
    assert document is not None
    before = site.list_keys()
    path = data.draw(paths(document, sorted(FILES)), label="path")
    response = Client().get(path)
    check(response, document, before, site.list_keys())
