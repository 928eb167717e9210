"""The Python API of ``imagevariants.variants``: candidates with their format and content type, the tags' DEBUG rule,
a keep-format preset asked for its own format, and ``picture_data``, what ``{% picture %}`` renders as data."""

import html
import logging

import pytest
from django.template.backends.jinja2 import Jinja2
from django.test import override_settings

from imagevariants import publishing, variants
from imagevariants.edge import formats
from imagevariants.exceptions import UnknownPreset
from imagevariants.models import VariantPreset
from tests.test_tags import CDN, fp, render

pytestmark = pytest.mark.django_db


@pytest.fixture
def converting(presets, django_capture_on_commit_callbacks):
    """A preset whose primary output converts to WebP, without alternates."""
    with django_capture_on_commit_callbacks(execute=True):
        return VariantPreset.objects.create(name="thumb", width=80, format="webp", avif=False, webp=False)


def test_converted_candidates_have_their_output_format(presets, converting, source):
    thumb = variants.candidate(source, "thumb")
    assert (thumb.format, thumb.content_type) == ("webp", "image/webp")
    assert thumb.url.endswith("/images/photo.jpg.webp")
    for fmt, mime in [("avif", "image/avif"), ("webp", "image/webp")]:
        found = variants.candidates(source, "sm md lg", fmt)
        assert [(c.format, c.content_type) for c in found] == [(fmt, mime)] * 3
        assert variants.candidate("images/scan.tif", "md", fmt).format == fmt  # converted: whatever the source


@pytest.mark.parametrize(
    ("key", "fmt", "mime"),
    [
        ("images/photo.jpg", "jpeg", "image/jpeg"),
        ("images/photo.JPEG", "jpeg", "image/jpeg"),
        ("images/logo.png", "png", "image/png"),
        ("images/anim.gif", "gif", "image/gif"),
        ("images/a.webp", "webp", "image/webp"),
        ("images/a.avif", "avif", "image/avif"),
    ],
)
def test_kept_candidates_have_the_format_the_key_names(presets, key, fmt, mime):
    assert formats.key_format(key) == fmt
    md = variants.candidate(key, "md")
    assert (md.format, md.content_type) == (fmt, mime)
    assert md.url.endswith(f"/{key}")  # kept: no extension of a converted format
    found = variants.candidates(key, "sm md lg xl")
    assert [(c.format, c.content_type) for c in found] == [(fmt, mime)] * 4


@pytest.mark.parametrize("key", ["images/scan.tif", "images/old.bmp", "images/no-extension", "images.d/photo"])
def test_kept_candidates_of_an_unknown_extension_have_no_format(presets, converting, key):
    """The edge decides from the bytes (a TIFF becomes JPEG or PNG): nothing to tell without reading them."""
    assert formats.key_format(key) is None
    md = variants.candidate(key, "md")
    assert (md.format, md.content_type) == (None, None)
    mixed = variants.candidates(key, "thumb md")  # a converting preset beside a keeping one
    assert [(c.nominal_width, c.format, c.content_type) for c in mixed] == [
        (80, "webp", "image/webp"),
        (250, None, None),
    ]


def test_unknown_presets_as_the_tags_the_original_else_an_error_under_debug(presets, source, settings, caplog):
    original = "/media/images/photo.jpg"
    with caplog.at_level(logging.WARNING, logger="imagevariants"):
        unknown = variants.candidate(source, "huge")
        no_gif = variants.candidate(source, "md", "gif")
        found = variants.candidates(source, "sm huge")
    # As the tags: the original, here at the source's own size, format and content type, and a warning each.
    expected = variants.Candidate(original, 800, 600, 800, "jpeg")
    assert unknown == no_gif == expected and found == [expected]
    assert expected.content_type == "image/jpeg" and expected.descriptor == f"{original} 800w"
    assert render('{% variant_url s "huge" %}', s=source) == unknown.url
    assert render('{% srcset s "sm huge" %}', s=source) == found[0].url
    assert len([r for r in caplog.records if "Unknown image preset 'huge'" in r.getMessage()]) == 4  # 2 by the tags
    assert "no 'gif' output" in caplog.text
    # A storage key: neither size nor, for an extension of no format, a format; its URL alone as a srcset entry.
    [scan] = variants.candidates("images/scan.tif", "huge")
    assert scan == variants.Candidate("/media/images/scan.tif", None, None, 0, None)
    assert scan.content_type is None and scan.descriptor == "/media/images/scan.tif"
    settings.DEBUG = True  # once presets are published, an error under DEBUG, as the tags
    with pytest.raises(UnknownPreset, match="'huge'"):
        variants.candidate(source, "huge")
    with pytest.raises(UnknownPreset, match="no 'gif' output"):
        variants.candidate(source, "md", "gif")
    with pytest.raises(UnknownPreset, match="'huge'"):
        variants.candidates(source, "sm huge")


@pytest.mark.parametrize("debug", [False, True])
def test_with_nothing_published_the_original_even_under_debug(presets, source, settings, caplog, debug):
    settings.DEBUG = debug
    original = "https://d111111abcdef8.cloudfront.net/images/photo.jpg"
    with override_settings(IMAGEVARIANTS=CDN), caplog.at_level(logging.WARNING, logger="imagevariants"):
        assert publishing.published_document() is None
        expected = variants.Candidate(original, 800, 600, 800, "jpeg")
        assert variants.candidate(source, "md") == expected
        assert variants.candidates(source, "sm md") == [expected]
        data = variants.picture_data(source, "sm md")
        assert data.original and data.fallback == expected and data.srcset == original and data.sources == []
        assert render('{% variant_url s "md" %}', s=source) == original
    assert len([r for r in caplog.records if "No presets are published yet" in r.getMessage()]) == 4


@pytest.mark.parametrize("debug", [False, True])
def test_a_keep_format_preset_asked_for_its_own_format(presets, source, settings, caplog, debug):
    """``format="jpeg"`` of a preset that keeps a JPEG source's format is its primary output, not an error."""
    settings.DEBUG = debug
    primary = f"/variants/_v/md.{fp(presets['md'])}.c{source.sha256[:12]}/images/photo.jpg"
    caplog.set_level(logging.WARNING, logger="imagevariants")
    assert render('{% variant_url s "md" format="jpeg" %}', s=source) == primary
    assert render('{% srcset s "sm md" format="jpeg" %}', s=source) == render('{% srcset s "sm md" %}', s=source)
    md = variants.candidate(source, "md", "jpeg")
    assert md == variants.candidate(source, "md")
    assert (md.url, md.format, md.content_type) == (primary, "jpeg", "image/jpeg")
    png = variants.candidate("images/logo.png", "md", "png")
    assert png.url == variants.variant_url("images/logo.png", "md") and png.format == "png"
    assert "Unknown image preset" not in caplog.text and "output" not in caplog.text


def test_only_the_format_the_key_names_is_the_kept_one(presets, converting, source, settings):
    settings.DEBUG = True
    with pytest.raises(UnknownPreset, match="no 'png' output"):
        variants.candidate(source, "md", "png")  # a JPEG key: PNG is no output of md
    with pytest.raises(UnknownPreset, match="no 'jpeg' output"):
        variants.candidate("images/scan.tif", "md", "jpeg")  # the edge decides from the bytes: not known
    with pytest.raises(UnknownPreset, match="no 'jpeg' output"):
        variants.variant_url(source, "thumb", "jpeg")  # thumb converts to WebP: it keeps nothing
    # A format the preset has an output of its own for stays that output (converted), whatever the source.
    webp = variants.candidate("images/a.webp", "md", "webp")
    assert webp.url.endswith(f"/md.{fp(presets['md'], 'webp')}/images/a.webp.webp") and webp.format == "webp"


def markup(data, sizes="100vw", alt=""):
    """``{% picture %}``'s markup, made from its data."""
    sources = "".join(
        f'<source type="{s.content_type}" srcset="{html.escape(s.srcset)}" sizes="{sizes}">' for s in data.sources
    )
    img = data.fallback
    height, width = (f' height="{img.height}"', f' width="{img.width}"') if img.width else ("", "")
    return (
        f'<picture>{sources}<img src="{html.escape(img.url)}" srcset="{html.escape(data.srcset)}" sizes="{sizes}" '
        f'alt="{alt}" decoding="async"{height} loading="lazy"{width}></picture>'
    )


@pytest.mark.parametrize("value", ["source", "key", "encoded key", "small"])
def test_picture_data_is_what_picture_renders(presets, source, value):
    from tests import images

    sources = {
        "source": source,
        "key": "images/cat.jpg",
        "encoded key": "images/my photo é #1?&.png",
        "small": images.tracked("small.jpg", images.jpeg(500, 250)),
    }
    image = sources[value]
    data = variants.picture_data(image, "sm md lg xl")
    assert not data.original
    assert markup(data) == render('{% picture s "sm md lg xl" %}', s=image)
    assert data.srcset == render('{% srcset s "sm md lg xl" %}', s=image)
    assert data.fallback == data.candidates[-1] and data.candidates == variants.candidates(image, "sm md lg xl")
    assert [(s.format, s.content_type) for s in data.sources] == [("avif", "image/avif"), ("webp", "image/webp")]
    for entry in data.sources:
        assert entry.candidates == variants.candidates(image, "sm md lg xl", entry.format)
        assert entry.srcset == render('{% srcset s "sm md lg xl" format=f %}', s=image, f=entry.format)
        assert {c.format for c in entry.candidates} == {entry.format}


def test_picture_data_of_presets_without_a_common_alternate(
    presets, converting, source, django_capture_on_commit_callbacks
):
    """A ``<source>`` only for formats every preset has an output of its own in (thumb's primary is WebP, it has
    no AVIF); the largest is the fallback."""
    data = variants.picture_data(source, ["thumb", "md"])
    assert [(s.format, [c.nominal_width for c in s.candidates]) for s in data.sources] == [("webp", [80, 250])]
    assert markup(data) == render('{% picture s "thumb md" %}', s=source)
    with django_capture_on_commit_callbacks(execute=True):
        VariantPreset.objects.create(name="plain", width=100, avif=False, webp=False)
    kept = variants.picture_data("images/a.webp", "plain")  # its output is WebP, kept: no <source> of its own
    assert kept.sources == [] and kept.fallback.format == "webp"
    assert markup(kept) == render('{% picture "images/a.webp" "plain" %}')
    assert [(c.nominal_width, c.format) for c in data.candidates] == [(80, "webp"), (250, "jpeg")]
    assert (data.fallback.width, data.fallback.height, data.fallback.format) == (250, 188, "jpeg")


def test_picture_data_of_no_image_and_of_the_original(presets, source, settings, caplog):
    assert variants.picture_data(None, "sm md") is None
    assert variants.picture_data("", "sm md") is None
    with caplog.at_level(logging.WARNING, logger="imagevariants"):
        data = variants.picture_data(source, "sm huge")
    assert "No image for" not in caplog.text and "Unknown image preset 'huge'" in caplog.text
    original = "/media/images/photo.jpg"
    assert data.original and data.srcset == original and data.sources == []
    assert data.fallback == variants.Candidate(original, 800, 600, 800, "jpeg") and data.candidates == [data.fallback]
    assert render('{% picture s "sm huge" %}', s=source) == (
        f'<img src="{original}" alt="" decoding="async" height="600" loading="lazy" width="800">'
    )
    settings.DEBUG = True
    with pytest.raises(UnknownPreset, match="'huge'"):
        variants.picture_data(source, "sm huge")


def test_picture_data_in_jinja2(presets, source):
    engine = Jinja2(
        {"NAME": "j", "DIRS": [], "APP_DIRS": False, "OPTIONS": {"extensions": ["imagevariants.jinja2.variants"]}}
    )
    template = engine.from_string(
        '{% set p = picture_data(s, "sm md") %}{% if p %}{{ p.fallback.url }}|{{ p.fallback.content_type }}|'
        "{% for x in p.sources %}{{ x.content_type }} {% endfor %}{% else %}none{% endif %}"
    )
    data = variants.picture_data(source, "sm md")
    assert template.render({"s": source}) == f"{data.fallback.url}|image/jpeg|image/avif image/webp "
    assert template.render({}) == "none"  # an undefined variable is no image
