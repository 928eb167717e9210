"""Rendering 100 tags makes no storage call at all and at most one query (zero once warm)."""

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from imagevariants import conf
from imagevariants.models import SourceImage

TEMPLATE = Template(
    "{% load imagevariants %}{% for s in sources %}"
    '{% variant_url s "md" %}{% srcset s "sm md lg" %}{% picture s "sm md lg xl" alt=s.alt %}'
    '{% variant_url s.file "sm" %}{% variant_url s.key "lg" format="webp" %}'
    "{% endfor %}"
)


class CountingStorage(FileSystemStorage):
    """A real FileSystemStorage that counts every call the tags could make."""

    calls: list[str] = []

    def __getattribute__(self, name):
        if name in ("open", "exists", "size", "listdir", "url", "path", "get_modified_time", "save", "delete"):
            CountingStorage.calls.append(name)
        return super().__getattribute__(name)


@pytest.mark.django_db
def test_a_page_with_100_tags(presets, source, settings, monkeypatch):
    SourceImage.objects.bulk_create(
        SourceImage(file=f"images/{i}.jpg", width=800 + i, height=600, format="jpeg", sha256="0" * 64)
        for i in range(19)
    )
    sources = list(SourceImage.objects.all())  # the view's own query, before the page renders
    assert len(sources) == 20  # 20 sources x 5 tags = 100 tags
    counting = CountingStorage(location=settings.MEDIA_ROOT, base_url=settings.MEDIA_URL)
    monkeypatch.setattr(conf.source_storage, "_wrapped", counting)
    assert source.file.storage.exists(source.key)  # the storage the sources and the tags use is the counting one
    CountingStorage.calls.clear()
    with CaptureQueriesContext(connection) as cold:
        html = TEMPLATE.render(Context({"sources": sources}))
    with CaptureQueriesContext(connection) as warm:
        again = TEMPLATE.render(Context({"sources": sources}))
    assert html == again
    assert html.count("<picture>") == 20 and html.count("/_v/") > 100
    assert all(f"images/{i}.jpg" in html for i in range(19))
    assert CountingStorage.calls == []
    assert len(cold.captured_queries) <= 1, cold.captured_queries
    assert len(warm.captured_queries) == 0, warm.captured_queries


@pytest.mark.django_db
def test_counting_storage_does_count(settings):
    """The counter above is not blind: a storage call is seen."""
    storage = CountingStorage(location=settings.MEDIA_ROOT)
    CountingStorage.calls.clear()
    storage.exists("x")
    assert "exists" in CountingStorage.calls
    assert SourceImage.objects.count() == 0
