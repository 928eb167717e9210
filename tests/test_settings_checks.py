"""The IMAGEVARIANTS namespace and the system checks with stable ids."""

import re
from pathlib import Path

import pytest
from django.core.checks import registry
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.test import override_settings

import imagevariants.checks
from imagevariants import conf
from imagevariants.checks import TAG

CDN = "https://d1.cloudfront.net"


def ids(settings_dict=None, tag=TAG, **other):
    with override_settings(IMAGEVARIANTS=settings_dict or {}, **other):
        return sorted({m.id for m in registry.run_checks(tags=[tag])})


def test_defaults():
    assert conf.settings().variant_prefix == "_v/"
    assert conf.settings().region == "us-east-1"
    assert conf.settings().local_mode is True
    assert ids() == []


def test_override_settings_resets_the_cached_getter():
    assert conf.settings().cdn_url == ""
    with override_settings(IMAGEVARIANTS={"CDN_URL": "https://d1.cloudfront.net"}):
        assert conf.settings().cdn_url == "https://d1.cloudfront.net"
        assert conf.settings().local_mode is False
    assert conf.settings().cdn_url == ""


def test_bucket_defaults_to_django_storages_setting():
    with override_settings(AWS_STORAGE_BUCKET_NAME="media-bucket"):
        assert conf.settings().bucket == "media-bucket"
    with override_settings(AWS_STORAGE_BUCKET_NAME="media-bucket", IMAGEVARIANTS={"BUCKET": "other"}):
        assert conf.settings().bucket == "other"


def test_unknown_option_is_named():
    with override_settings(IMAGEVARIANTS={"CDN_URLS": "x"}):
        with pytest.raises(ImproperlyConfigured, match="CDN_URLS"):
            conf.settings()
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
        ({"DISTRIBUTION_ID": "E1ABCDEFGHIJKL"}, "imagevariants.W005"),  # the site stays on the local edge
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
    assert ids(tag="codecs") == ["imagevariants.W002"]


def test_each_concern_runs_under_its_own_tag(monkeypatch):
    from PIL import features

    with override_settings(IMAGEVARIANTS={"CDN_URLS": "x"}):  # E001 once, from the settings' check
        assert [m.id for m in registry.run_checks(tags=[TAG])] == ["imagevariants.E001"]
    monkeypatch.setattr(features, "check", lambda name: False)
    broken = {"REGION": "eu-west-1"}
    unmounted = {"ROOT_URLCONF": "tests.urls_without_edge"}
    assert ids(broken, **unmounted) == ["imagevariants.E004", "imagevariants.E008", "imagevariants.W002"]
    assert ids(broken, tag="settings", **unmounted) == ["imagevariants.E004"]
    assert ids(broken, tag="urls", **unmounted) == ["imagevariants.E008"]
    assert ids(broken, tag="codecs", **unmounted) == ["imagevariants.W002"]


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


def test_the_settings_reference_lists_every_option_with_its_default():
    text = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)? \|", text, re.M))
    names = {name for pair in documented for name in pair if name}
    assert names == set(conf.DEFAULTS)
