"""Helpers for a project's own tests: publish presets for a test, and reset the caches a process keeps.

Tags only use *published* presets, and on the local edge a preset's save publishes only once its transaction
commits: inside a Django ``TestCase`` (whose transaction never commits) a preset a test creates is never seen, and
the published presets a process read stay cached for ``PRESETS_CACHE_SECONDS``, from one test into the next.

- :class:`published_presets`: a context manager, and a decorator of a test method or a ``TestCase`` class (as
  ``override_settings``), that creates presets and publishes them at once for the current target;
- :func:`reset_caches`: forget everything this package keeps per process;
- a pytest plugin (``pytest_plugins = ["imagevariants.testing"]`` in the project's root conftest) with the
  fixtures ``imagevariants_presets`` and ``imagevariants_fresh_caches``. Nothing is autouse.

This module imports without pytest (the fixtures exist only when it is installed), and before Django's apps are
loaded (a conftest imports it early): the app's models are imported when a helper runs. See docs/guide/testing.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.test.utils import TestContextDecorator

from . import conf
from .edge import store
from .edge.presets import Document

if TYPE_CHECKING:
    from .models import Publication

__all__ = ["published_presets", "reset_caches"]

#: Who the publications made here are recorded as (``Publication.created_by``).
PUBLISHED_BY = "imagevariants.testing"


def reset_caches() -> None:
    """Forget everything this package keeps per process that tests may change under it: the published presets
    (``publishing.forget``), the merged settings and the sources' storage (``conf.reset``), and the boto3 clients
    made of the environment (CloudFront for purges, S3 for the edge's reads), so the next use sees the settings,
    the database and the ``AWS_*`` variables of now.

    Left alone: caches whose content depends only on their arguments (decoded sources, colour transforms, the
    edge bundle's zip, the sample image of the admin's preview) and the renders in flight on the local edge.
    """
    from . import publishing, purge, variants

    publishing.forget()
    variants.forget()
    conf.reset()
    purge.cloudfront_client.cache_clear()
    store.s3_client.cache_clear()


def _publish(by: str) -> Publication:
    """Publish the presets for the current target now: locally as an editor's commit would, or as a succeeded
    deployment to CloudFront recorded without any call to AWS."""
    from . import publishing
    from .models import Publication

    if conf.settings().local_mode:
        return publishing.publish_locally(by)
    return publishing.publish_draft(Publication.Target.CLOUDFRONT, by, note="Recorded by a test: nothing was deployed.")


class published_presets(TestContextDecorator):  # lower case: a decorator, as override_settings
    """Create presets and publish them for the current target, for a test; the published ``Document`` is what
    ``with`` gives.

    ``presets`` maps a preset's name to its fields (``{"md": {"width": 250, "format": "webp"}}``); a preset of that
    name is created, or updated when it exists. Every preset in the database is published: those given and any
    other (rows of fixtures or of ``setUpTestData``); with no argument, the rows already there (call it again after
    a test edits a preset, to publish the edit). Locally this is
    ``publishing.publish_locally()``; with a CDN configured, a succeeded publication to CloudFront is recorded and
    nothing is sent to AWS. The process's copy of the published presets is forgotten on entry and on exit.

    Nothing is deleted on exit: the rows stay as the test's transaction leaves them. In a ``TestCase`` (or a pytest
    ``db`` test) they roll back with the test; in a ``TransactionTestCase`` (``transactional_db``) they are
    committed and stay, still published, until the database is flushed after the test.

    As a decorator of a ``TestCase`` class, it applies in ``setUp`` of each test, inside the test's transaction.
    Stacked with ``override_settings`` on a method, put it below (it then runs under the settings).
    """

    def __init__(self, presets: Mapping[str, Mapping[str, Any]] | None = None, *, by: str = PUBLISHED_BY) -> None:
        super().__init__()
        self.presets = {name: dict(fields) for name, fields in (presets or {}).items()}
        self.by = by

    def enable(self) -> Document:
        from . import publishing
        from .models import VariantPreset

        publishing.forget()
        for name, fields in self.presets.items():
            VariantPreset.objects.update_or_create(name=name, defaults=fields)
        publication = _publish(self.by)
        publishing.forget()
        return Document.from_dict(publication.document)

    def disable(self) -> None:
        from . import publishing

        publishing.forget()


try:
    import pytest
except ImportError:  # the helpers above work without pytest; only the fixtures need it
    pytest = None  # type: ignore[assignment]  # the fixtures below are then not defined

if pytest is not None:

    @pytest.fixture
    def imagevariants_presets(db: None) -> Iterator[Callable[..., Document]]:
        """A factory: ``imagevariants_presets({"sm": {"width": 100}})`` creates and publishes presets (as
        :class:`published_presets`) and returns the published ``Document``; with no argument it publishes the
        presets already in the database. The published presets are forgotten after the test."""
        with contextlib.ExitStack() as stack:

            def publish(presets: Mapping[str, Mapping[str, Any]] | None = None, *, by: str = PUBLISHED_BY) -> Document:
                return stack.enter_context(published_presets(presets, by=by))

            yield publish

    @pytest.fixture
    def imagevariants_fresh_caches() -> Iterator[None]:
        """:func:`reset_caches` before and after the test (make it autouse in your conftest to apply it to all)."""
        reset_caches()
        yield
        reset_caches()
