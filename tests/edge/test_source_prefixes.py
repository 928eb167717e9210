"""The edge makes variants only of sources under the document's source prefixes: anything else is a 404, unread."""

from __future__ import annotations

import pytest

from imagevariants.edge.errors import DocumentError
from imagevariants.edge.handler import respond
from imagevariants.edge.keys import url_path
from imagevariants.edge.presets import DEFAULT_SOURCES, Document
from imagevariants.edge.spec import Spec
from tests import images
from tests.edge.conftest import MemoryStore
from tests.edge.events import miss, response_of


@pytest.fixture
def scoped() -> Document:
    return Document.build({"sm": [Spec(100), Spec(100, format="webp")]}, sources=["images/", "uploads/photos/"])


@pytest.fixture
def bucket() -> MemoryStore:
    photo = images.jpeg(400, 300)
    return MemoryStore(
        {
            "images/a.jpg": photo,
            "uploads/photos/b.jpg": photo,
            "private/passport.jpg": photo,
            "uploads/other/c.jpg": photo,
            "imagesX/d.jpg": photo,
        }
    )


def variant(document: Document, source: str, index: int = 0) -> str:
    return "/" + url_path(document.outputs("sm")[index].key(source, document.prefix))


@pytest.mark.parametrize("source", ["images/a.jpg", "uploads/photos/b.jpg"])
def test_sources_under_a_source_prefix_are_made(scoped, bucket, source):
    assert respond(miss(variant(scoped, source)), bucket, scoped)["status"] == "200"
    assert len(bucket.written) == 1


@pytest.mark.parametrize("source", ["private/passport.jpg", "uploads/other/c.jpg", "imagesX/d.jpg"])
@pytest.mark.parametrize("index", [0, 1])
def test_sources_elsewhere_are_a_404_never_read_nor_written(scoped, bucket, source, index):
    response = respond(miss(variant(scoped, source, index)), bucket, scoped)
    assert response["status"] == "404"
    assert bucket.reads == [] and bucket.written == {}


def test_a_seed_alias_outside_the_source_prefixes_passes_through(scoped, bucket):
    event = miss("/private/passport-sm.jpg")
    assert respond(event, bucket, scoped) is response_of(event)
    inside = respond(miss("/images/a-sm.jpg"), bucket, scoped)
    assert inside["status"] == "302"


@pytest.mark.parametrize(
    "sources, prefix, message",
    [
        (["_v/"], "_v/", "overlaps the variant prefix"),
        (["media/"], "media/_v/", "overlaps the variant prefix"),
        (["media/originals/"], "media/", "overlaps the variant prefix"),
        (["../"], "_v/", "path segments"),
        (["images"], "_v/", "path segments"),
        ([], "_v/", "non-empty list"),
        ("images/", "_v/", "non-empty list"),
    ],
)
def test_the_document_refuses_source_prefixes_that_overlap_the_variants_or_are_malformed(sources, prefix, message):
    data = Document.build({"sm": [Spec(100)]}).to_dict()
    data.update(sources=sources, prefix=prefix)
    with pytest.raises(DocumentError, match=message):
        Document.from_dict(data)


def test_documents_stored_before_sources_were_baked_read_the_default_upload_folder():
    data = Document.build({"sm": [Spec(100)]}, sources=["uploads/"]).to_dict()
    del data["sources"]
    assert Document.from_dict(data).sources == DEFAULT_SOURCES == ("images/",)


def test_sources_round_trip_sorted_and_unique():
    document = Document.build({"sm": [Spec(100)]}, sources=["b/", "a/", "b/"])
    assert Document.from_json(document.to_json()).sources == ("a/", "b/")
    assert document.to_dict()["sources"] == ["a/", "b/"]
