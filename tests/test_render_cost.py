"""Rendering 100 tags makes no storage call at all and at most one query (zero once warm); what the tags keep to
render fast (the local edge's base URL, the outputs of the published document, the sources' versions) is made
once, and made again when what it is made of changes."""

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import connection
from django.template import Context, Template
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix
from django.utils import translation

from imagevariants import conf, publishing, variants
from imagevariants.edge.keys import SourceVersion, url_path
from imagevariants.edge.presets import Document
from imagevariants.models import Publication, SourceImage
from imagevariants.sources import SourceRef, _known_version, as_source

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


def counted(monkeypatch, owner, name):
    """Count the calls of ``owner.name`` (still made), in the list returned."""
    calls = []
    real = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def page(sources):
    return TEMPLATE.render(Context({"sources": sources}))


@pytest.mark.django_db
def test_the_local_edge_route_is_reversed_once_per_resolver_prefix_and_language(presets, source, monkeypatch):
    reversed_ = counted(monkeypatch, variants, "reverse")
    variants.forget()
    html = page([source] * 20)
    assert html.count("/variants/_v/") > 100 and len(reversed_) == 1
    assert page([source] * 20) == html and len(reversed_) == 1
    url = variants.variant_url(source, "md")
    prefix = get_script_prefix()
    set_script_prefix("/sub/")  # a site mounted under a path: every URL under it
    try:
        assert variants.variant_url(source, "md") == "/sub" + url
    finally:
        set_script_prefix(prefix)
    assert len(reversed_) == 2
    with translation.override("fr"):  # i18n_patterns or translated routes would give other URLs
        assert variants.variant_url(source, "md") == url
    assert len(reversed_) == 3
    assert variants.variant_url(source, "md") == url and len(reversed_) == 3
    variants.forget()
    assert variants.variant_url(source, "md") == url and len(reversed_) == 4


@pytest.mark.django_db
def test_a_kept_base_url_is_dropped_when_the_urlconf_or_the_cdn_changes(presets, source):
    assert variants.variant_url(source, "md").startswith("/variants/_v/md.")
    with override_settings(ROOT_URLCONF="tests.urls_without_edge"), pytest.raises(NoReverseMatch):
        variants.variant_url(source, "md")  # the route is no longer there: nothing kept says otherwise
    assert variants.variant_url(source, "md").startswith("/variants/_v/md.")
    with override_settings(IMAGEVARIANTS={"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}):
        publishing.record(
            publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
        )
        assert variants.variant_url(source, "md").startswith("https://d111111abcdef8.cloudfront.net/_v/md.")
    assert variants.variant_url(source, "md").startswith("/variants/_v/md.")


@pytest.mark.django_db
def test_the_outputs_of_a_published_document_are_looked_up_once(presets, source, monkeypatch):
    looked_up = counted(monkeypatch, Document, "outputs")
    html = page([source] * 20)
    assert len(looked_up) == len(presets)  # once per preset of the document, not once per URL
    assert page([source] * 20) == html and len(looked_up) == len(presets)
    publishing.forget()  # the document is read again: another object, whose outputs are looked up again
    assert page([source] * 20) == html and len(looked_up) == 2 * len(presets)


@pytest.mark.django_db
def test_each_sources_hash_is_checked_once(presets, source, monkeypatch):
    checked = counted(monkeypatch, SourceVersion, "from_sha256")
    _known_version.cache_clear()
    others = [SourceImage(file=f"images/{i}.jpg", width=800, height=600, sha256=f"{i % 2:064x}") for i in range(19)]
    page([source, *others])
    assert sorted(checked) == sorted([(source.sha256,), (f"{0:064x}",), (f"{1:064x}",)])
    page([source, *others])
    assert len(checked) == 3
    broken = SourceImage(file="images/broken.jpg", width=800, height=600, sha256="not a hash")
    for _ in range(2):  # a hash that is not one is refused every time: nothing is kept of it
        with pytest.raises(ValueError, match="SHA-256"):
            variants.variant_url(broken, "md")


@pytest.mark.django_db
@pytest.mark.parametrize("cdn", ["", "https://d111111abcdef8.cloudfront.net/"])
def test_the_urls_are_those_of_the_key_scheme(presets, source, cdn):
    """The tags join parts of URLs made once per document: the same URLs as ``url_path`` of each variant's key."""
    with override_settings(IMAGEVARIANTS={"CDN_URL": cdn, "BUCKET": "b"} if cdn else {}):
        target = Publication.Target.CLOUDFRONT if cdn else Publication.Target.LOCAL
        publishing.record(publishing.draft_document(), target, status=Publication.Status.SUCCEEDED)
        document = publishing.published_document()
        assert document is not None
        refs = [
            as_source(source),
            SourceRef("images/my photo é #1?&%.jpg"),
            SourceRef("images/ü/ß [1].png", 640, 480, SourceVersion.from_sha256("a" * 64)),
            as_source("/images/lead.jpg"),
        ]
        checked = 0
        for ref in refs:
            for name in document.presets:
                outputs = document.outputs(name)
                for output in outputs:
                    fmt = None if output is outputs[0] else output.spec.format
                    expected = variants.base_url() + url_path(output.key(ref.key, document.prefix, ref.version))
                    assert variants.variant_url(ref, name, fmt) == expected
                    assert variants.candidate(ref, name, fmt).url == expected
                    checked += 1
        assert checked == len(refs) * len(presets) * 3
        assert variants.base_url() == (cdn or reverse("imagevariants:edge", kwargs={"key": "_"})[:-1])
