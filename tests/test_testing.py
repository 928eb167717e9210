"""imagevariants.testing: presets published for a test (a Django TestCase, a TransactionTestCase, a pytest fixture),
locally and with a CDN, and no published presets kept from one test into the next."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from django.db import transaction
from django.template import Context, Template
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils.functional import empty

from imagevariants import conf, publishing, purge, testing
from imagevariants.edge import store
from imagevariants.models import Publication, VariantPreset
from imagevariants.testing import published_presets

ROOT = Path(__file__).resolve().parents[1]
CDN_URL = "https://d111111abcdef8.cloudfront.net"
CDN = {"CDN_URL": CDN_URL, "BUCKET": "b"}
KEY = "images/photo.jpg"
ORIGINAL = "/media/images/photo.jpg"  # the storage's own URL: what the tags fall back to
PRESETS = {"sm": {"width": 100}, "md": {"width": 250, "format": "webp"}}

# The plugin's fixtures, as a project gets them from `pytest_plugins = ["imagevariants.testing"]` in its root
# conftest (which only the suite's root conftest could declare here).
imagevariants_presets = testing.imagevariants_presets
imagevariants_fresh_caches = testing.imagevariants_fresh_caches


def render(text: str, **context) -> str:
    return Template("{% load imagevariants %}" + text).render(Context(context))


def md_url(base: str = "/variants/") -> str:
    """The URL of KEY in the webp preset md, as the published presets give it."""
    return f"{base}_v/md.{VariantPreset.objects.get(name='md').fingerprint}/{KEY}.webp"


@published_presets(PRESETS)
class DecoratedClassTests(TestCase):
    def test_the_tag_renders_the_variant_url(self):
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())
        self.assertRegex(render('{% variant_url k "sm" %}', k=KEY), r"^/variants/_v/sm\.[0-9a-f]+/images/photo\.jpg$")

    def test_the_presets_are_rows_of_this_test_published_once(self):
        self.assertEqual(list(VariantPreset.objects.values_list("name", flat=True)), ["sm", "md"])
        publication = Publication.objects.get()
        self.assertEqual((publication.target, publication.status), ("local", "succeeded"))
        self.assertEqual(publication.created_by, testing.PUBLISHED_BY)


class WithoutAndWithTheHelperTests(TestCase):
    def test_without_it_a_preset_saved_in_a_test_case_is_never_published(self):
        """The save publishes once its transaction commits, which a TestCase's never does: the original's URL."""
        VariantPreset.objects.create(name="md", width=250, format="webp")
        with self.assertLogs("imagevariants", "WARNING") as logs:
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), ORIGINAL)
        self.assertIn("No presets are published yet", logs.output[0])
        self.assertFalse(Publication.objects.exists())

    def test_the_context_manager_gives_the_published_document(self):
        with published_presets(PRESETS) as document:
            self.assertEqual(sorted(document.presets), ["md", "sm"])
            self.assertEqual(publishing.published_document(), document)
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())

    @published_presets({"md": {"width": 250, "format": "webp"}})
    def test_as_a_method_decorator(self):
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())

    def test_an_existing_preset_is_updated_and_every_row_published(self):
        VariantPreset.objects.create(name="md", width=400)
        VariantPreset.objects.create(name="lg", width=700)
        with published_presets({"md": {"width": 250, "format": "webp"}}) as document:
            self.assertEqual(sorted(document.presets), ["lg", "md"])
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())

    def test_an_edit_is_published_by_calling_it_again(self):
        with published_presets(PRESETS):
            before = md_url()
            VariantPreset.objects.filter(name="md").update(width=260)
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), before)  # a draft, as in production
            with published_presets():
                self.assertNotEqual(md_url(), before)
                self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())

    def test_the_published_presets_are_not_kept_past_the_helper(self):
        """On exit the process's copy is forgotten: once the rows are gone (here a savepoint's rollback, between
        tests the test's), the tags read the database again, within PRESETS_CACHE_SECONDS."""
        savepoint = transaction.savepoint()
        with published_presets(PRESETS):
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())  # now cached for 30 s
        transaction.savepoint_rollback(savepoint)
        with self.assertLogs("imagevariants", "WARNING"):
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), ORIGINAL)


class WithTestDataTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        VariantPreset.objects.create(name="md", width=250, format="webp")

    @published_presets()
    def test_with_no_argument_the_rows_there_are_published(self):
        self.assertEqual(list(publishing.published_document().presets), ["md"])
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())


@override_settings(IMAGEVARIANTS=CDN)
@published_presets(PRESETS)
class CdnTests(TestCase):
    def test_a_succeeded_cloudfront_publication_is_recorded_and_nothing_deployed(self):
        publication = Publication.objects.get()
        self.assertEqual((publication.target, publication.status), ("cloudfront", "succeeded"))
        self.assertEqual((publication.function_arn, publication.distribution_id), ("", ""))
        self.assertIsNotNone(publication.finished_at)

    def test_the_tag_renders_the_cdn_url(self):
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url(CDN_URL + "/"))

    def test_the_same_presets_are_not_recorded_twice(self):
        with published_presets(PRESETS):
            self.assertEqual(Publication.objects.count(), 1)

    @override_settings(IMAGEVARIANTS={})
    def test_without_a_cdn_only_the_local_publication_counts(self):
        """The class's publication went to CloudFront; the local edge has none of its own."""
        with self.assertLogs("imagevariants", "WARNING"):
            self.assertEqual(render('{% variant_url k "md" %}', k=KEY), ORIGINAL)


class CdnMethodTests(TestCase):
    @override_settings(IMAGEVARIANTS=CDN)
    @published_presets(PRESETS)  # below override_settings: it publishes under the CDN's settings
    def test_stacked_under_override_settings(self):
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url(CDN_URL + "/"))
        self.assertFalse(Publication.objects.filter(target="local").exists())


class TransactionalTests(TransactionTestCase):
    def test_the_rows_are_committed_and_stay_until_the_flush(self):
        with published_presets(PRESETS):
            pass
        # Committed: each save also published on commit (as an editor's would), then the helper found nothing new.
        self.assertEqual(list(VariantPreset.objects.values_list("name", flat=True)), ["sm", "md"])
        self.assertEqual(publishing.last_publication("local").document_sha256, publishing.draft_document().sha256)
        self.assertEqual(render('{% variant_url k "md" %}', k=KEY), md_url())


# -- the pytest fixtures -----------------------------------------------------------------------------------------


def test_the_fixture_publishes_and_returns_the_document(imagevariants_presets):
    document = imagevariants_presets(PRESETS)
    assert sorted(document.presets) == ["md", "sm"]
    assert render('{% variant_url k "md" %}', k=KEY) == md_url()
    assert Publication.objects.get().target == "local"


def test_the_fixture_with_a_cdn(imagevariants_presets, settings):
    settings.IMAGEVARIANTS = CDN
    imagevariants_presets(PRESETS)
    assert render('{% variant_url k "md" %}', k=KEY) == md_url(CDN_URL + "/")
    assert Publication.objects.get().target == "cloudfront"


def test_the_fixture_with_no_argument_publishes_the_rows_there(imagevariants_presets):
    VariantPreset.objects.create(name="md", width=250, format="webp")
    assert list(imagevariants_presets().presets) == ["md"]
    assert render('{% variant_url k "md" %}', k=KEY) == md_url()


def test_reset_caches_forgets_every_cache_of_the_process(imagevariants_fresh_caches, monkeypatch):
    monkeypatch.setattr(publishing, "_cached", (float("inf"), None))
    merged = conf.settings()
    conf.source_storage.url(KEY)  # the storage is looked up
    store.s3_client("us-east-1")
    purge.cloudfront_client()
    testing.reset_caches()
    assert publishing._cached is None
    assert conf.settings() is not merged
    assert conf.source_storage._wrapped is empty
    assert store.s3_client.cache_info().currsize == 0
    assert purge.cloudfront_client.cache_info().currsize == 0


# -- as a project uses it ----------------------------------------------------------------------------------------

CONFTEST = """
pytest_plugins = ["imagevariants.testing"]
"""

PROJECT_TESTS = """
from django.template import Context, Template
from django.test import TestCase

from imagevariants import publishing
from imagevariants.testing import published_presets

URL = "images/photo.jpg"


def render():
    return Template('{% load imagevariants %}{% variant_url k "md" %}').render(Context({"k": URL}))


# Without the helpers: a publication a test makes outlives it, in this process's copy.
def test_1_publish_by_hand(db):
    from imagevariants.models import VariantPreset

    VariantPreset.objects.create(name="md", width=250)
    publishing.publish_locally()
    assert render().startswith("/variants/_v/md.")


def test_2_the_rolled_back_publication_is_still_used(db):
    assert render().startswith("/variants/_v/md.")  # the leak the helpers prevent


def test_3_reset(imagevariants_fresh_caches, db):
    assert render() == "/media/images/photo.jpg"


def test_4_the_fixture(imagevariants_presets):
    imagevariants_presets({"md": {"width": 250}})
    assert render().startswith("/variants/_v/md.")


def test_5_nothing_kept_after_the_fixture(db):
    assert render() == "/media/images/photo.jpg"


class Test6Decorated(TestCase):
    @published_presets({"md": {"width": 250}})
    def test_decorated(self):
        assert render().startswith("/variants/_v/md.")


def test_7_nothing_kept_after_the_decorator(db):
    assert render() == "/media/images/photo.jpg"
"""


def test_a_project_registers_the_plugin_in_its_conftest(tmp_path):
    """A project's own run (none of this suite's fixtures): the fixtures come from `pytest_plugins`, and no
    published presets pass from one test to the next through the helpers, where they do without them."""
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_project.py").write_text(textwrap.dedent(PROJECT_TESTS))
    command = [sys.executable, "-m", "pytest", str(tmp_path), "--ds=tests.settings", "-p", "no:cacheprovider"]
    command += ["-q", "--rootdir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout, result.stdout


IMPORT_WITHOUT_PYTEST = r"""
import importlib.abc, sys

class NoPytest(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("pytest", "_pytest") or name.startswith(("pytest.", "_pytest.")):
            raise ImportError("pytest is not installed")

sys.meta_path.insert(0, NoPytest())
import imagevariants.testing as testing
assert callable(testing.published_presets) and callable(testing.reset_caches)
assert not hasattr(testing, "imagevariants_presets")
print("OK")
"""


def test_the_module_imports_without_pytest_and_before_django_is_set_up():
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    command = [sys.executable, "-c", IMPORT_WITHOUT_PYTEST]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.stdout.strip() == "OK", result.stderr
