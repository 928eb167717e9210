"""What the tags serve: the last successful publication, drafts until published (CDN), at once (local edge)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from imagevariants import publishing
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from imagevariants.models import Publication, VariantPreset

pytestmark = pytest.mark.django_db
CDN = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}


def test_local_edits_are_published_on_commit(presets, django_capture_on_commit_callbacks):
    assert Publication.objects.filter(target="local", status="succeeded").exists()
    before = Publication.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].quality = 70
        presets["md"].save()
    assert Publication.objects.count() == before + 1
    document = publishing.published_document()
    assert document.presets["md"].current[0] == presets["md"].fingerprint
    # The revision before the edit is still served: pages cached with its URLs keep working.
    assert len(document.presets["md"].revisions) == 2 * len(presets["md"].specs())


def test_saving_without_a_change_publishes_nothing(presets, django_capture_on_commit_callbacks):
    before = Publication.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        presets["md"].save()
    assert Publication.objects.count() == before


def test_deleting_a_preset_stops_its_urls(presets, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        presets["xl"].delete()
    assert "xl" not in publishing.published_document().presets


def test_states(presets, settings, django_capture_on_commit_callbacks):
    settings.IMAGEVARIANTS = CDN
    assert publishing.published_document() is None
    assert publishing.preset_state(presets["md"], None) == "unpublished"
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    published = publishing.published_document()
    assert publishing.preset_state(presets["md"], published) == "live"
    presets["md"].width = 300
    presets["md"].save()
    assert publishing.preset_state(presets["md"], published) == "draft"
    fresh = VariantPreset.objects.create(name="new", width=10)
    assert publishing.preset_state(fresh, published) == "unpublished"
    # Every output counts, not only the primary one: dropping the WebP alternate is an edit to deploy.
    assert publishing.preset_state(presets["sm"], published) == "live"
    presets["sm"].webp = False
    presets["sm"].save()
    assert presets["sm"].fingerprint == published.presets["sm"].current[0]  # the primary output is unchanged
    assert publishing.preset_state(presets["sm"], published) == "draft"
    # With a CDN, edits are drafts: nothing is published behind the deployer's back.
    assert Publication.objects.filter(target="cloudfront").count() == 1


def test_served_revisions_are_those_live_at_some_point_in_the_keep_window(db, settings):
    """The revision live when the window opened (its URLs may sit in pages cached then) and every one since;
    not one replaced before the window opened."""
    settings.IMAGEVARIANTS = {**CDN, "REVISIONS_KEEP_DAYS": 365}
    now = timezone.now()
    specs = {}
    for days, width in ((500, 200), (400, 250), (10, 300)):
        specs[days] = Spec(width)
        deployment = publishing.record(Document.build({"md": [specs[days]]}), "cloudfront", status="succeeded")
        Publication.objects.filter(pk=deployment.pk).update(created_at=now - timedelta(days=days))
    failed = publishing.record(Document.build({"md": [Spec(260)]}), "cloudfront", status="failed", error="boom")
    Publication.objects.filter(pk=failed.pk).update(created_at=now - timedelta(days=5))
    served = publishing.served_revisions("cloudfront")
    assert {spec.fingerprint for spec in served["md"]} == {specs[400].fingerprint, specs[10].fingerprint}
    assert publishing.served_revisions("local") == {}
    # What the next deployment serves: the presets as they are now, and those revisions.
    current = [spec.fingerprint for spec in VariantPreset.objects.create(name="md", width=320).specs()]
    revisions = publishing.draft_document().presets["md"].revisions
    assert set(revisions) == {specs[400].fingerprint, specs[10].fingerprint, *current}


def test_failed_deployments_are_not_served(presets, settings):
    settings.IMAGEVARIANTS = CDN
    publishing.record(publishing.draft_document(), "cloudfront", status="failed", error="boom")
    assert publishing.published_document() is None


def test_the_published_document_is_cached(presets, settings):
    publishing.published_document()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            publishing.published_document()
    assert len(queries) == 0
    settings.IMAGEVARIANTS = {"PRESETS_CACHE_SECONDS": 0}
    with CaptureQueriesContext(connection) as queries:
        publishing.published_document()
    assert len(queries) == 1


def test_an_upgrade_that_changes_the_pipeline_keeps_published_urls(presets, settings):
    settings.IMAGEVARIANTS = CDN
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    # Make that publication look as an earlier release stored it: pipeline "1", revisions without their own.
    deployment = Publication.objects.get(target="cloudfront")
    old = _as_earlier_release(deployment.document)
    deployment.document = old
    deployment.save()
    publishing.forget()
    published = publishing.published_document()
    assert published.presets["md"].current == tuple(old["presets"]["md"]["current"])  # pages keep their URLs
    assert publishing.preset_state(presets["md"], published) == "draft"  # the admin asks for a deploy
    draft = publishing.draft_document()
    assert set(old["presets"]["md"]["revisions"]) < set(draft.presets["md"].revisions)
    assert draft.presets["md"].current == tuple(s.fingerprint for s in presets["md"].specs())


def _as_earlier_release(document: dict) -> dict:
    import hashlib
    import json

    presets = {}
    for name, preset in document["presets"].items():
        revisions, renamed = {}, {}
        for fp, spec in preset["revisions"].items():
            fields = {k: v for k, v in spec.items() if k != "pipeline"}
            payload = json.dumps({"pipeline": "1", **fields}, sort_keys=True, separators=(",", ":"))
            renamed[fp] = hashlib.sha256(payload.encode()).hexdigest()[:8]
            revisions[renamed[fp]] = fields
        presets[name] = {"current": [renamed[fp] for fp in preset["current"]], "revisions": revisions}
    return {**document, "pipeline": "1", "presets": presets}


def unpublished_presets() -> None:
    """Presets in the database and nothing published: as a data migration or a queryset leaves them (no signal)."""
    VariantPreset.objects.bulk_create(
        [VariantPreset(name=name, width=width) for name, width in (("sm", 100), ("md", 250))]
    )


def test_reading_with_nothing_published_writes_nothing(db, caplog):
    """On the local edge, reading the published presets (a template rendering) never publishes: only SELECTs, no row,
    and the tags render the original with a warning until an explicit point publishes."""
    from django.template import Context, Template

    unpublished_presets()
    with CaptureQueriesContext(connection) as queries, caplog.at_level("WARNING", logger="imagevariants"):
        assert publishing.published_document() is None
        publishing.forget()
        html = Template('{% load imagevariants %}{% variant_url "images/photo.jpg" "md" %}').render(Context())
    assert html == "/media/images/photo.jpg"
    assert "No presets are published yet" in caplog.text
    assert queries and all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries), queries.captured_queries
    assert not Publication.objects.exists()


def test_migrate_publishes_presets_a_data_migration_wrote(db):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("migrate", stdout=out)  # nothing to publish, nothing published: nothing recorded
    assert not Publication.objects.exists() and "Local edge" not in out.getvalue()
    unpublished_presets()
    call_command("migrate", stdout=out)
    publication = Publication.objects.get()
    assert (publication.target, publication.status) == ("local", "succeeded")
    assert f"Local edge: presets published (document {publication.document_sha256[:12]})." in out.getvalue()
    assert set(publishing.published_document().presets) == {"sm", "md"}
    out = io.StringIO()
    call_command("migrate", stdout=out)  # unchanged: nothing more
    assert Publication.objects.count() == 1 and "Local edge" not in out.getvalue()


def test_migrate_publishes_nothing_with_a_cdn(db, settings):
    from django.core.management import call_command

    settings.IMAGEVARIANTS = CDN
    unpublished_presets()
    call_command("migrate", verbosity=0)
    assert not Publication.objects.exists()


def test_loaddata_publishes_once_its_transaction_commits(db, tmp_path, django_capture_on_commit_callbacks):
    import json

    from django.core.management import call_command

    fixture = tmp_path / "presets.json"
    saved = timezone.now().isoformat()  # a raw save sets no auto_now field
    rows = [{"name": name, "width": width, "updated_at": saved} for name, width in (("sm", 100), ("md", 250))]
    fixture.write_text(json.dumps([{"model": "imagevariants.variantpreset", "fields": row} for row in rows]))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("loaddata", str(fixture), verbosity=0)
    assert Publication.objects.filter(target="local").count() == 1
    assert set(publishing.published_document().presets) == {"sm", "md"}
