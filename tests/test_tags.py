"""Template tags: URLs, srcset, <picture>, escaping, unknown presets and what is published."""

import logging
import re

import pytest
from django.template import Context, Template
from django.test import override_settings

from imagevariants import publishing
from imagevariants.exceptions import UnknownPreset
from imagevariants.models import Publication, SourceImage, VariantPreset
from tests import images

pytestmark = pytest.mark.django_db
CDN = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}


def render(text, **context):
    return Template("{% load imagevariants %}" + text).render(Context(context))


def fp(preset, fmt=None):
    return next(s.fingerprint for s in preset.specs() if s.format == fmt)


def ver(source):
    """The version token a tracked source's variant keys carry: the first 12 hex digits of its SHA-256."""
    assert len(source.sha256) == 64
    return f"c{source.sha256[:12]}"


def test_variant_url_on_the_local_edge(presets, source):
    url = render('{% variant_url s "md" %}', s=source)
    assert url == f"/variants/_v/md.{fp(presets['md'])}.{ver(source)}/images/photo.jpg"
    webp = render('{% variant_url s "md" format="webp" %}', s=source)
    assert webp == f"/variants/_v/md.{fp(presets['md'], 'webp')}.{ver(source)}/images/photo.jpg.webp"


def test_variant_url_with_a_cdn_uses_the_published_presets(presets, source):
    with override_settings(IMAGEVARIANTS=CDN):
        # Nothing deployed to CloudFront yet: the tags never emit an URL the edge cannot serve.
        with override_settings(DEBUG=True):
            original = "https://d111111abcdef8.cloudfront.net/images/photo.jpg"
            assert render('{% variant_url s "md" %}', s=source) == original
        publishing.record(
            publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
        )
        published = f"https://d111111abcdef8.cloudfront.net/_v/md.{fp(presets['md'])}.{ver(source)}/images/photo.jpg"
        assert render('{% variant_url s "md" %}', s=source) == published
        # An edit is a draft until deployed: the URL stays the one the edge serves.
        presets["md"].width = 260
        presets["md"].save()
        publishing.forget()
        assert render('{% variant_url s "md" %}', s=source) == published


def test_before_the_first_deploy_pages_render_the_originals_under_debug(presets, source, settings, caplog):
    """A CDN configured and nothing deployed to it yet: originals and a warning, not an error page under DEBUG."""
    settings.DEBUG = True
    original = "https://d111111abcdef8.cloudfront.net/images/photo.jpg"
    with override_settings(IMAGEVARIANTS=CDN), caplog.at_level(logging.WARNING, logger="imagevariants"):
        assert render('{% variant_url s "md" %}', s=source) == original
        assert render('{% srcset s "sm md" %}', s=source) == original
        html = render('{% picture s "sm md" alt="x" %}', s=source)
        assert html.startswith(f'<img src="{original}" alt="x"') and 'width="800"' in html
        assert len([r for r in caplog.records if "No presets are published yet" in r.getMessage()]) == 3
        assert "deploy_edge" in caplog.text
        publishing.record(
            publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
        )
        publishing.forget()
        assert render('{% variant_url s "md" %}', s=source).startswith("https://d111111abcdef8.cloudfront.net/_v/md.")
        with pytest.raises(UnknownPreset, match="'huge'"):  # once something is published, still an error
            render('{% variant_url s "huge" %}', s=source)


def test_originals_through_the_cdn_are_percent_encoded(presets):
    from imagevariants.variants import original_url

    key = "images/my photo é #1?.jpg"
    encoded = "https://d111111abcdef8.cloudfront.net/images/my%20photo%20%C3%A9%20%231%3F.jpg"
    with override_settings(IMAGEVARIANTS=CDN):
        assert original_url(key) == encoded
        assert render('{% variant_url k "huge" %}', k=key) == encoded  # the fallback for an unknown preset
        html = render('{% picture k "huge" alt="x" %}', k=key)
        assert f'<img src="{encoded}" alt="x"' in html


def test_local_edit_applies_at_once(presets, source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].width = 260
        presets["md"].save()
    assert render('{% variant_url s "md" %}', s=source).startswith(f"/variants/_v/md.{fp(presets['md'])}.c")


def test_sources_as_fieldfile_and_key_and_names_are_encoded(presets, source):
    md = fp(presets["md"])
    # A SourceImage's own file is the SourceImage: its version and size.
    assert render('{% variant_url s "md" %}', s=source.file) == f"/variants/_v/md.{md}.{ver(source)}/images/photo.jpg"
    assert (
        render('{% variant_url "images/my photo é.jpg" "md" %}')
        == f"/variants/_v/md.{md}/images/my%20photo%20%C3%A9.jpg"
    )


def test_srcset_leaves_out_widths_above_the_source(presets, db):
    source = images.tracked("small.jpg", images.jpeg(500, 250))
    value = render('{% srcset s "sm md lg xl" %}', s=source)
    # lg (700) is kept at the source's own width (the edge never upscales): high-density screens get all there is.
    assert [int(w) for w in re.findall(r" (\d+)w", value)] == [100, 250, 500]
    assert f"/variants/_v/lg.{fp(presets['lg'])}.{ver(source)}/images/small.jpg 500w" in value and "xl." not in value
    exact = images.tracked("exact.jpg", images.jpeg(700, 350))
    # A preset exactly as wide as the source is no wider than it: kept, at its own width.
    value = render('{% srcset s "sm md lg xl" %}', s=exact)
    assert [int(w) for w in re.findall(r" (\d+)w", value)] == [100, 250, 700]
    assert f"/variants/_v/lg.{fp(presets['lg'])}.{ver(exact)}/images/exact.jpg 700w" in value and "xl." not in value
    tiny = images.tracked("tiny.jpg", images.jpeg(60, 40))
    # All presets are wider than the source: the narrowest stays, at the source's own width.
    expected = f"/variants/_v/sm.{fp(presets['sm'])}.{ver(tiny)}/images/tiny.jpg 60w"
    assert render('{% srcset s "md sm" %}', s=tiny) == expected
    # Unknown size (a key): every preset, with the preset widths.
    assert [int(w) for w in re.findall(r" (\d+)w", render('{% srcset "x.jpg" "sm md lg xl" %}'))] == [
        100,
        250,
        700,
        1200,
    ]


def test_picture(presets, source):
    html = render('{% picture s "sm md lg xl" sizes="(max-width: 600px) 100vw, 600px" alt=s.alt %}', s=source)
    assert html.startswith('<picture><source type="image/avif"')
    assert html.count("<source ") == 2 and 'type="image/webp"' in html
    img = re.search(r"<img [^>]+>", html).group(0)
    assert 'loading="lazy"' in img and 'decoding="async"' in img
    # xl (1200) is the first preset wider than the 800x600 source: kept, at the source's own size, and the largest.
    assert 'width="800"' in img and 'height="600"' in img
    assert f'src="/variants/_v/xl.{fp(presets["xl"])}.{ver(source)}/images/photo.jpg"' in img
    assert 'alt="A test picture"' in img
    assert html.count(" 800w") == 3  # in each <source> and the <img>
    assert 'sizes="(max-width: 600px) 100vw, 600px"' in img


def test_picture_attributes_override_and_escape(presets, source):
    html = render(
        '{% picture s "sm md" alt=alt loading="eager" class="hero" data_role="x" %}',
        s=source,
        alt='"><script>alert(1)</script>',
    )
    assert "<script>" not in html
    assert 'alt="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert 'loading="eager"' in html and 'class="hero"' in html and 'data-role="x"' in html


def test_picture_without_alternates(db, source):
    VariantPreset.objects.create(name="plain", width=100, avif=False, webp=False)
    html = render('{% picture s "plain" %}', s=source)
    assert "<source" not in html and "<img " in html


def test_unknown_preset_raises_with_debug(presets, source, settings):
    settings.DEBUG = True
    with pytest.raises(UnknownPreset, match="'huge'.*sm"):
        render('{% variant_url s "huge" %}', s=source)


def test_unknown_preset_falls_back_to_the_original_and_warns(presets, source, caplog):
    with caplog.at_level(logging.WARNING, logger="imagevariants"):
        url = render('{% variant_url s "huge" %}', s=source)
        html = render('{% picture s "sm huge" alt="x" %}', s=source)
    assert url == "/media/images/photo.jpg"
    assert '<img src="/media/images/photo.jpg" alt="x"' in html
    assert "Unknown image preset 'huge'" in caplog.text


@pytest.mark.parametrize("empty", ["none", "blank", "field", "source"])
@pytest.mark.parametrize("debug", [False, True])
def test_no_image_renders_nothing_with_a_warning(presets, empty, debug, caplog, settings):
    """An optional image left empty is common: the page renders, without an image nor a broken URL."""
    settings.DEBUG = debug
    value = {"none": None, "blank": "", "field": SourceImage().file, "source": SourceImage()}[empty]
    caplog.set_level(logging.WARNING, logger="imagevariants")
    html = render(
        '[{% variant_url s "md" %}][{% variant_url s "md" format="webp" %}][{% srcset s "sm md" %}]'
        '[{% picture s "sm md" alt="x" %}]',
        s=value,
    )
    assert html == "[][][][]"
    assert len([r for r in caplog.records if "No image for" in r.getMessage()]) == 4


@pytest.mark.parametrize("fmt", ["webp", "avif"])
def test_srcset_in_one_format(presets, source, fmt):
    value = render('{% srcset s "sm md" format=f %}', s=source, f=fmt)
    sm, md = fp(presets["sm"], fmt), fp(presets["md"], fmt)
    assert value == (
        f"/variants/_v/sm.{sm}.{ver(source)}/images/photo.jpg.{fmt} 100w, "
        f"/variants/_v/md.{md}.{ver(source)}/images/photo.jpg.{fmt} 250w"
    )
