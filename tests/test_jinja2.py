"""The Jinja2 extension: the tags' functions as globals, with the Django tags' output, through Django's backend."""

import html
import importlib
import logging
import sys

import pytest
from django.template import Context, Template, engines
from django.template.backends.jinja2 import Jinja2
from django.test import override_settings
from jinja2 import StrictUndefined
from jinja2.exceptions import UndefinedError
from markupsafe import Markup

import imagevariants
from imagevariants import publishing
from imagevariants.models import Publication, SourceImage
from tests import images

pytestmark = pytest.mark.django_db
CDN = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}
EXTENSION = "imagevariants.jinja2.variants"


def jinja(**options):
    return Jinja2({"NAME": "jinja2", "DIRS": [], "APP_DIRS": False, "OPTIONS": {"extensions": [EXTENSION], **options}})


def render_jinja(text, engine=None, **context):
    return (engine or jinja()).from_string(text).render(context)


def render_django(text, **context):
    return Template("{% load imagevariants %}" + text).render(Context(context))


# The same call in both languages: (Django tag, Jinja2 expression).
PAIRS = [
    ('{% variant_url s "md" %}', '{{ variant_url(s, "md") }}'),
    ('{% variant_url s "md" format="webp" %}', '{{ variant_url(s, "md", format="webp") }}'),
    ('{% variant_url s "lg" format="avif" %}', '{{ variant_url(s, "lg", format="avif") }}'),
    ('{% srcset s "sm md lg xl" %}', '{{ srcset(s, "sm md lg xl") }}'),
    ('{% srcset s "sm md" format="avif" %}', '{{ srcset(s, "sm md", format="avif") }}'),
    ('{% picture s "sm md lg xl" %}', '{{ picture(s, "sm md lg xl") }}'),
    (
        '{% picture s "sm md lg xl" sizes="(max-width: 600px) 100vw, 600px" alt=s.alt %}',
        '{{ picture(s, "sm md lg xl", sizes="(max-width: 600px) 100vw, 600px", alt=s.alt) }}',
    ),
    (
        '{% picture s "sm md" alt=alt loading="eager" class="hero" data_role="x" %}',
        '{{ picture(s, "sm md", alt=alt, loading="eager", class="hero", data_role="x") }}',
    ),
    ('{% picture s "md sm" alt="x" %}', '{{ picture(s, "md sm", alt="x") }}'),
]
ALT = "\"><script>alert(1)</script> & 'quoted'"


def sources(source):
    """A SourceImage, its file, a storage key (unknown size) and a key that needs percent-encoding."""
    return {
        "source": source,
        "file": source.file,
        "key": "images/photo.jpg",
        "encoded key": "images/my photo é #1?.jpg",
        "narrow": images.tracked("narrow.jpg", images.jpeg(500, 250)),
    }


@pytest.mark.parametrize(("django", "jinja2"), PAIRS)
def test_same_output_as_the_django_tags(presets, source, django, jinja2):
    for name, value in sources(source).items():
        expected = render_django(django, s=value, alt=ALT)
        assert render_jinja(jinja2, s=value, alt=ALT) == expected, name
        assert expected  # something was rendered


@pytest.mark.parametrize(("django", "jinja2"), PAIRS)
def test_same_output_with_a_cdn(presets, source, django, jinja2):
    with override_settings(IMAGEVARIANTS=CDN):
        publishing.record(
            publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
        )
        expected = render_django(django, s=source, alt=ALT)
        assert "https://d111111abcdef8.cloudfront.net/_v/" in expected
        assert render_jinja(jinja2, s=source, alt=ALT) == expected


def test_through_the_templates_setting(presets, source):
    """Configured as users do, beside the Django backend."""
    templates = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True},
        {
            "BACKEND": "django.template.backends.jinja2.Jinja2",
            "APP_DIRS": False,
            "OPTIONS": {"extensions": [EXTENSION]},
        },
    ]
    with override_settings(TEMPLATES=templates):
        text = '<img src="{{ variant_url(s, "md") }}" srcset="{{ srcset(s, "sm md") }}">{{ picture(s, "sm md") }}'
        html_ = engines["jinja2"].from_string(text).render({"s": source})
        django = engines["django"].from_string(
            '{% load imagevariants %}<img src="{% variant_url s "md" %}" srcset="{% srcset s "sm md" %}">'
            '{% picture s "sm md" %}'
        )
        assert html_ == django.render({"s": source})
        assert html_.count("<picture>") == 1 and "/variants/_v/md." in html_


def test_markup_safety(presets, source):
    """picture is Markup (not escaped again); the URL strings are escaped by autoescaping, the alt by picture."""
    from imagevariants import jinja2 as extension

    assert isinstance(extension.picture(source, "sm md"), Markup)
    assert type(extension.variant_url(source, "md")) is str and type(extension.srcset(source, "sm")) is str
    html_ = render_jinja('{{ picture(s, "sm", alt=alt) }}', s=source, alt=ALT)
    assert "<script>" not in html_ and "&lt;script&gt;" in html_ and html_.startswith("<picture><source ")
    # An URL string is escaped like any other: a key's quote (left as is by the storage's URL) becomes an entity.
    url = render_jinja('{{ variant_url(k, "huge") }}', k="images/it's.jpg")  # the fallback: the storage's URL
    assert url == "/media/images/it&#39;s.jpg" and html.unescape(url) == "/media/images/it's.jpg"
    assert html.unescape(render_django('{% variant_url k "huge" %}', k="images/it's.jpg")) == html.unescape(url)
    # Without autoescaping (a plain-text template) the strings come out as they are.
    assert render_jinja('{{ variant_url(k, "huge") }}', jinja(autoescape=False), k="images/it's.jpg") == (
        "/media/images/it's.jpg"
    )


@pytest.mark.parametrize("empty", ["none", "blank", "field", "source", "undefined"])
def test_no_image_renders_nothing(presets, empty, caplog):
    value = {"none": None, "blank": "", "field": SourceImage().file, "source": SourceImage()}.get(empty)
    context = {} if empty == "undefined" else {"s": value}
    caplog.set_level(logging.WARNING, logger="imagevariants")
    text = '[{{ variant_url(s, "md") }}][{{ srcset(s, "sm md", format="webp") }}][{{ picture(s, "sm md", alt="x") }}]'
    assert render_jinja(text, **context) == "[][][]"
    assert len([r for r in caplog.records if "No image for" in r.getMessage()]) == 3


def test_strict_undefined_still_raises(presets):
    with pytest.raises(UndefinedError, match="'s' is undefined"):
        render_jinja('{{ variant_url(s, "md") }}', jinja(undefined=StrictUndefined))


def test_unknown_presets_as_the_tags(presets, source, settings, caplog):
    settings.DEBUG = True
    from imagevariants.exceptions import UnknownPreset

    with pytest.raises(UnknownPreset, match="'huge'"):
        render_jinja('{{ picture(s, "sm huge") }}', s=source)
    settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="imagevariants"):
        html_ = render_jinja('{{ picture(s, "sm huge", alt="x") }}', s=source)
    assert html_ == render_django('{% picture s "sm huge" alt="x" %}', s=source)
    assert html_.startswith('<img src="/media/images/photo.jpg" alt="x"')
    assert "Unknown image preset 'huge'" in caplog.text


def test_set_as_a_variable(presets, source):
    """``{% variant_url ... as hero %}`` is a ``{% set %}``."""
    text = '{% set hero = variant_url(s, "lg", format="webp") %}<link rel="preload" href="{{ hero }}">'
    url = render_django('{% variant_url s "lg" format="webp" %}', s=source)
    assert render_jinja(text, s=source) == f'<link rel="preload" href="{url}">'


def test_without_jinja2_the_import_error_names_the_extra(monkeypatch):
    for name in ("jinja2", "jinja2.ext", "markupsafe"):
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    monkeypatch.delitem(sys.modules, "imagevariants.jinja2", raising=False)
    monkeypatch.delattr(imagevariants, "jinja2", raising=False)
    with pytest.raises(ImportError, match=r"django-imagevariants\[jinja2\]"):
        importlib.import_module("imagevariants.jinja2")
