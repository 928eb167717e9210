"""The IMAGEVARIANTS namespace and the system checks with stable ids."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.test import override_settings

import imagevariants.checks
from imagevariants import conf
from imagevariants.checks import check_settings

CDN = "https://d1.cloudfront.net"


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
        ({"MAX_FRAMES": 0}, "imagevariants.E007"),
        ({"MAX_JPEG_SCANS": "64"}, "imagevariants.E007"),
        ({"MAX_SOURCE_BYTES": "big"}, "imagevariants.E007"),
        ({"REVISIONS_KEEP_DAYS": -1}, "imagevariants.E007"),
        ({"CDN_URL": "https://d1.cloudfront.net"}, "imagevariants.W001"),
    ],
)
def test_each_check_fires(options, expected):
    # With a CDN, the route is left out of the URLconf as it should be (W003 otherwise).
    urlconf = "tests.urls_without_edge" if options.get("CDN_URL") else "tests.urls"
    assert ids(options, ROOT_URLCONF=urlconf) == [expected]


@pytest.mark.parametrize(
    "options",
    [
        {"VARIANT_PREFIX": "media/", "UPLOAD_TO": "media/originals/"},  # prune_variants would delete originals
        {"VARIANT_PREFIX": "media/originals/", "UPLOAD_TO": "media/"},
        {"VARIANT_PREFIX": "images/"},  # the default UPLOAD_TO
        {"VARIANT_PREFIX": "images/_v/"},
        {"VARIANT_PREFIX": "media/", "UPLOAD_TO": "media"},
        {"SOURCE_PREFIXES": ["uploads/", "_v/"]},
        {"SOURCE_PREFIXES": "_v/old/"},
    ],
)
def test_a_variant_prefix_overlapping_a_source_prefix_is_an_error(options):
    assert ids(options) == ["imagevariants.E009"]


@pytest.mark.parametrize(
    "options",
    [
        {"VARIANT_PREFIX": "_v2/", "SOURCE_PREFIXES": ["_v/"]},  # a common start is not an overlap
        {"VARIANT_PREFIX": "media/images2/", "UPLOAD_TO": "media/images/"},
        {"SOURCE_PREFIXES": ["uploads", "media/photos/", "/docs/scans/"]},
    ],
)
def test_separate_prefixes_pass(options):
    assert ids(options) == []


@pytest.mark.parametrize(
    "options",
    [
        {"UPLOAD_TO": ""},  # the root of the storage: every key
        {"SOURCE_PREFIXES": [""]},
        {"SOURCE_PREFIXES": ["my.photos/"]},
        {"SOURCE_PREFIXES": ["uploads//photos/"]},
        {"SOURCE_PREFIXES": ["../uploads/"]},
        {"SOURCE_PREFIXES": ["up loads/"]},
        {"SOURCE_PREFIXES": 3},
        {"SOURCE_PREFIXES": [b"uploads/"]},
        {"UPLOAD_TO": None},
    ],
)
def test_a_source_prefix_that_is_not_path_segments_is_an_error(options):
    assert ids(options) == ["imagevariants.E010"]


def test_local_edge_mounted_beside_a_cdn_warns():
    assert ids({"CDN_URL": CDN, "BUCKET": "b"}) == ["imagevariants.W003"]  # tests.urls mounts the route


def test_every_check_id_is_documented():
    found = set(re.findall(r'id="(imagevariants\.[EW]\d{3})"', Path(imagevariants.checks.__file__).read_text()))
    documented = Path(__file__).parents[1].joinpath("docs/reference/checks.md").read_text()
    assert {"imagevariants.E009", "imagevariants.E010", "imagevariants.W003"} <= found
    assert [i for i in sorted(found) if f"`{i}`" not in documented] == []


def test_local_edge_needs_its_urls():
    assert ids({}, ROOT_URLCONF="tests.urls_without_edge") == ["imagevariants.E008"]
    assert ids({"CDN_URL": CDN, "BUCKET": "b"}, ROOT_URLCONF="tests.urls_without_edge") == []


def test_pillow_without_avif_warns(monkeypatch):
    from PIL import features

    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real(name))
    assert ids() == ["imagevariants.W002"]


class BucketStorage(FileSystemStorage):
    """A storage that names its bucket itself, as a django-storages subclass may."""

    bucket_name = "media-from-class"


@pytest.mark.parametrize(
    "storage",
    [
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"bucket_name": "media"}},
        {"BACKEND": "tests.test_settings_checks.BucketStorage"},
    ],
)
def test_a_bucket_named_by_the_storage_is_enough(storage):
    """W001 reads the bucket where django-storages takes it: the storage's OPTIONS, or the storage itself."""
    storages = {"media": storage, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    options = {"CDN_URL": CDN, "STORAGE": "media"}
    assert ids(options, ROOT_URLCONF="tests.urls_without_edge", STORAGES=storages) == []
    # The default storage names no bucket: the warning stays when the sources live there.
    assert ids({"CDN_URL": CDN}, ROOT_URLCONF="tests.urls_without_edge", STORAGES=storages) == ["imagevariants.W001"]
