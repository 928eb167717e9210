"""The IMAGEVARIANTS namespace and the system checks with stable ids."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from imagevariants import conf
from imagevariants.checks import check_settings


def ids(settings_dict=None, **other):
    with override_settings(IMAGEVARIANTS=settings_dict or {}, **other):
        return sorted({m.id for m in check_settings()})


def test_defaults():
    assert conf.get("VARIANT_PREFIX") == "_v/"
    assert conf.get("REGION") == "us-east-1"
    assert conf.local_mode() is True
    assert ids() == []


def test_override_settings_resets_the_cached_getter():
    assert conf.get("CDN_URL") == ""
    with override_settings(IMAGEVARIANTS={"CDN_URL": "https://d1.cloudfront.net"}):
        assert conf.get("CDN_URL") == "https://d1.cloudfront.net"
        assert conf.local_mode() is False
    assert conf.get("CDN_URL") == ""


def test_bucket_defaults_to_django_storages_setting():
    with override_settings(AWS_STORAGE_BUCKET_NAME="media-bucket"):
        assert conf.get("BUCKET") == "media-bucket"
    with override_settings(AWS_STORAGE_BUCKET_NAME="media-bucket", IMAGEVARIANTS={"BUCKET": "other"}):
        assert conf.get("BUCKET") == "other"


def test_unknown_option_is_named():
    with override_settings(IMAGEVARIANTS={"CDN_URLS": "x"}):
        with pytest.raises(ImproperlyConfigured, match="CDN_URLS"):
            conf.get("CDN_URL")
    assert ids({"CDN_URLS": "x"}) == ["imagevariants.E001"]


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"CDN_URL": "d1.cloudfront.net", "BUCKET": "b"}, "imagevariants.E002"),
        ({"CDN_URL": "https://d1.cloudfront.net/?x=1", "BUCKET": "b"}, "imagevariants.E002"),
        ({"VARIANT_PREFIX": "/_v"}, "imagevariants.E003"),
        ({"REGION": "eu-west-1"}, "imagevariants.E004"),
        ({"RUNTIME": "nodejs20.x"}, "imagevariants.E005"),
        ({"STORAGE": "nope"}, "imagevariants.E006"),
        ({"MAX_SOURCE_PIXELS": 0}, "imagevariants.E007"),
        ({"MAX_SOURCE_BYTES": "big"}, "imagevariants.E007"),
        ({"REVISIONS_KEEP_DAYS": -1}, "imagevariants.E007"),
        ({"CDN_URL": "https://d1.cloudfront.net"}, "imagevariants.W001"),
    ],
)
def test_each_check_fires(options, expected):
    assert ids(options) == [expected]


def test_local_edge_needs_its_urls():
    assert ids({}, ROOT_URLCONF="tests.urls_without_edge") == ["imagevariants.E008"]
    assert ids({"CDN_URL": "https://d1.cloudfront.net", "BUCKET": "b"}, ROOT_URLCONF="tests.urls_without_edge") == []


def test_pillow_without_avif_warns(monkeypatch):
    from PIL import features

    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real(name))
    assert ids() == ["imagevariants.W002"]
