"""The admin through Django's test client: columns, banner, preview endpoint, deploy action, permissions."""

import json
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imagevariants import publishing
from imagevariants.models import Publication, SourceImage, VariantPreset
from tests import images

pytestmark = pytest.mark.django_db
CDN = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}
PRESET_FORM = {
    "name": "md",
    "width": "250",
    "height": "",
    "fit": "contain",
    "quality": "80",
    "format": "",
    "avif": "on",
    "webp": "on",
    "background": "#ffffff",
}


def staff(*codenames):
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def editor(client):
    user = staff("view_variantpreset", "add_variantpreset", "change_variantpreset", "view_sourceimage")
    client.force_login(user)
    return user


def test_changelist_columns_and_states(admin_client, presets, settings):
    settings.IMAGEVARIANTS = CDN
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    presets["md"].width = 260
    presets["md"].save()
    html = admin_client.get(reverse("admin:imagevariants_variantpreset_changelist")).content.decode()
    assert html.count("iv-state-live") == 3 and html.count("iv-state-draft") == 1
    assert presets["sm"].fingerprint in html and "100 wide" in html and "as source, avif, webp" in html
    # The banner names the draft and the exact command, and offers the button to a superuser.
    assert "1 preset is not live yet." in html and "<code>md</code>" in html
    assert "python manage.py deploy_edge" in html and "Deploy presets" in html
    filtered = admin_client.get(reverse("admin:imagevariants_variantpreset_changelist") + "?state=draft")
    assert re.findall(r'class="field-name"><a [^>]+>(\w+)</a>', filtered.content.decode()) == ["md"]


def test_no_banner_when_everything_is_live(admin_client, presets):
    html = admin_client.get(reverse("admin:imagevariants_variantpreset_changelist")).content.decode()
    assert "iv-banner" not in html and html.count("iv-state-live") == 4


def test_field_errors_are_shown_next_to_the_field(admin_client, presets):
    response = admin_client.post(
        reverse("admin:imagevariants_variantpreset_add"), {**PRESET_FORM, "name": "md", "quality": "150"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to 100." in html
    assert "Variant preset with this Name already exists." in html
    response = admin_client.post(
        reverse("admin:imagevariants_variantpreset_add"), {**PRESET_FORM, "name": "box", "fit": "cover"}
    )
    assert "Cover needs a height" in response.content.decode()


def test_preview_renders_the_unsaved_preset(client, editor, presets, source):
    url = reverse("admin:imagevariants_variantpreset_preview")
    data = {**PRESET_FORM, "width": "320", "format": "webp", "object_id": presets["md"].pk, "source": source.pk}
    response = client.post(url, data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["variant"]["width"], body["variant"]["height"], body["variant"]["format"]) == (320, 240, "webp")
    assert body["variant"]["url"].startswith("data:image/webp;base64,")
    assert body["original"]["width"] == 800 and body["original"]["url"] == "/media/images/photo.jpg"
    presets["md"].refresh_from_db()
    assert presets["md"].width == 250  # nothing saved
    sample = client.post(url, {**PRESET_FORM, "name": "new", "width": "100"}).json()
    assert sample["variant"]["width"] == 100 and sample["original"]["url"].startswith("data:image/jpeg")


def test_preview_reports_validation_errors(client, editor, presets):
    response = client.post(reverse("admin:imagevariants_variantpreset_preview"), {**PRESET_FORM, "quality": "0"})
    assert response.status_code == 422
    assert "quality" in response.json()["errors"]


def test_preview_of_a_broken_source_is_a_clear_error(client, editor, presets, source):
    source.file.storage.delete(source.key)
    source.file.storage.save(source.key, SimpleUploadedFile("x", b"garbage"))
    response = client.post(
        reverse("admin:imagevariants_variantpreset_preview"), {**PRESET_FORM, "name": "x", "source": source.pk}
    )
    assert response.status_code == 422 and "not a decodable image" in json.dumps(response.json())


def test_preview_permissions(client, presets):
    url = reverse("admin:imagevariants_variantpreset_preview")
    anonymous = client.post(url, PRESET_FORM)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(staff("view_variantpreset"))
    assert client.post(url, PRESET_FORM).status_code == 403
    client.force_login(User.objects.create_user("adder", is_staff=True))
    assert client.get(url).status_code in (403, 405)


def test_deploy_needs_the_permission(client, editor, presets):
    url = reverse("admin:imagevariants_variantpreset_deploy")
    html = client.get(reverse("admin:imagevariants_variantpreset_changelist")).content.decode()
    assert "Deploy presets" not in html
    assert client.post(url).status_code == 403
    before = Publication.objects.count()
    editor.user_permissions.add(Permission.objects.get(codename="deploy_edge"))
    assert client.get(url).status_code == 405  # only POST changes anything
    assert Publication.objects.count() == before


def test_deploy_on_the_local_edge_publishes(client, presets, settings):
    user = staff("view_variantpreset", "deploy_edge")
    client.force_login(user)
    VariantPreset.objects.filter(name="md").update(width=300)  # an edit that skipped the signals
    response = client.post(reverse("admin:imagevariants_variantpreset_deploy"), follow=True)
    assert "Presets published (Local edge" in response.content.decode()
    latest = Publication.objects.latest()
    assert latest.created_by == "editor" and latest.target == "local"
    assert latest.document["presets"]["md"]["current"][0] == VariantPreset.objects.get(name="md").fingerprint


def test_deploy_failure_is_reported(client, presets, settings):
    settings.IMAGEVARIANTS = CDN
    client.force_login(staff("view_variantpreset", "deploy_edge"))
    response = client.post(reverse("admin:imagevariants_variantpreset_deploy"), follow=True)
    assert "Deploying the presets failed" in response.content.decode()


def test_deleting_a_live_preset_warns(admin_client, presets, settings):
    settings.IMAGEVARIANTS = CDN
    publishing.record(publishing.draft_document(), "cloudfront", status="succeeded")
    fresh = VariantPreset.objects.create(name="fresh", width=10)
    live = admin_client.get(reverse("admin:imagevariants_variantpreset_delete", args=[presets["md"].pk])).content
    assert b"stops generating its URLs" in live
    never = admin_client.get(reverse("admin:imagevariants_variantpreset_delete", args=[fresh.pk])).content
    assert b"Are you sure" in never and b"stops generating its URLs" not in never


def test_upload_a_source_through_the_admin(admin_client, presets):
    upload = SimpleUploadedFile("upload.jpg", images.jpeg(1000, 800, orientation=6), content_type="image/jpeg")
    response = admin_client.post(reverse("admin:imagevariants_sourceimage_add"), {"file": upload, "alt": "x"})
    assert response.status_code == 302, response.content.decode()[:2000]
    source = SourceImage.objects.get()
    assert (source.width, source.height, source.format) == (800, 1000, "jpeg")
    assert source.bytes > 0 and len(source.sha256) == 64


def test_upload_of_a_broken_file_is_refused(admin_client, presets):
    upload = SimpleUploadedFile("broken.jpg", b"\xff\xd8\xff not really", content_type="image/jpeg")
    response = admin_client.post(reverse("admin:imagevariants_sourceimage_add"), {"file": upload})
    assert response.status_code == 200 and SourceImage.objects.count() == 0
    assert "errorlist" in response.content.decode()


def test_source_pages_list_variants_without_reading_images(admin_client, presets, source, monkeypatch):
    from django.core.files.storage import FileSystemStorage

    opened = []
    real_open = FileSystemStorage._open
    monkeypatch.setattr(
        FileSystemStorage, "_open", lambda self, name, mode="rb": opened.append(name) or real_open(self, name, mode)
    )
    changelist = admin_client.get(reverse("admin:imagevariants_sourceimage_changelist")).content.decode()
    assert f'src="/variants/_v/sm.{presets["sm"].fingerprint}.c{source.sha256[:12]}/images/photo.jpg"' in changelist
    detail = admin_client.get(reverse("admin:imagevariants_sourceimage_change", args=[source.pk])).content.decode()
    # Every published preset (xl included) in each of its formats: 4 presets x 3 outputs.
    assert detail.count('loading="lazy"') == 12
    assert "700×525" in detail and "800×600" in detail
    assert opened == []


def test_deployments_are_read_only(admin_client, presets):
    deployment = Publication.objects.latest()
    assert admin_client.get(reverse("admin:imagevariants_publication_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:imagevariants_publication_add")).status_code == 403
    view = admin_client.get(reverse("admin:imagevariants_publication_change", args=[deployment.pk]))
    assert view.status_code == 200 and b'name="_save"' not in view.content
    assert admin_client.post(reverse("admin:imagevariants_publication_delete", args=[deployment.pk])).status_code == 403


def test_staff_without_permissions_see_nothing(client):
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(reverse("admin:imagevariants_variantpreset_changelist")).status_code == 403
    assert client.get(reverse("admin:imagevariants_sourceimage_changelist")).status_code == 403
    assert b"Image variants" not in client.get(reverse("admin:index")).content
