"""The admin in a real headless Chromium (Debian's), driven by Playwright against the live server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from imagevariants import publishing
from imagevariants.models import SourceImage, VariantPreset
from tests import images

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):  # never a skip: `make test` installs it, or stops and says so
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def login(page, username: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_editor_designs_a_preset_and_sees_its_variants(page, tmp_path):
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    login(page, "admin", "pw")
    shot(page, "01-admin-index")

    # Create a preset.
    page.goto("/admin/imagevariants/variantpreset/add/")
    page.fill("#id_name", "hero")
    page.fill("#id_width", "640")
    page.wait_for_function("document.getElementById('iv-preview').dataset.variantWidth === '640'")
    shot(page, "02-preset-add-with-preview")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was added successfully")
    assert page.locator("td.field-state").first.inner_text().strip() == "live"  # local edge: live at once
    shot(page, "03-preset-changelist")

    # A bad quality is refused with a visible message next to the field.
    page.goto("/admin/imagevariants/variantpreset/add/")
    page.fill("#id_name", "bad")
    page.fill("#id_width", "100")
    page.fill("#id_quality", "150")
    page.click("input[name=_save]")
    error = page.locator(".field-quality .errorlist, .errorlist:near(#id_quality)").first
    assert "less than or equal to 100" in error.inner_text()
    assert error.is_visible()
    assert not VariantPreset.objects.filter(name="bad").exists()
    shot(page, "04-preset-bad-quality")

    # The preview follows the width without saving.
    hero = VariantPreset.objects.get(name="hero")
    page.goto(f"/admin/imagevariants/variantpreset/{hero.pk}/change/")
    page.wait_for_function("document.getElementById('iv-preview').dataset.variantWidth === '640'")
    page.fill("#id_width", "320")
    page.wait_for_function("document.getElementById('iv-preview').dataset.variantWidth === '320'")
    assert page.locator("#iv-variant-info").inner_text().startswith("320×")
    assert page.evaluate("document.getElementById('iv-variant').naturalWidth") == 320
    hero.refresh_from_db()
    assert hero.width == 640
    shot(page, "05-preset-preview-updated")

    # Upload a source.
    photo = tmp_path / "upload.jpg"
    photo.write_bytes(images.jpeg(1000, 750))
    page.goto("/admin/imagevariants/sourceimage/add/")
    page.set_input_files("#id_file", str(photo))
    page.fill("#id_alt", "Uploaded in the browser")
    page.click("input[name=_continue]")
    page.wait_for_selector("text=was added successfully")
    assert page.locator(".field-width .readonly").first.inner_text() == "1000"
    shot(page, "06-source-detail-with-variants")

    # Load one of its variants: it decodes and has the preset's width.
    url = page.locator(".iv-variants tr:has(td:text-is('hero')) a").first.get_attribute("href")
    upload = SourceImage.objects.get(file__endswith="upload.jpg")
    assert f"/_v/hero.{hero.fingerprint}.c{upload.sha256[:12]}/" in url  # the uploaded content's version
    width = page.evaluate(
        """async (url) => { const img = new Image(); img.src = url; await img.decode(); return img.naturalWidth; }""",
        url,
    )
    assert width == 640
    page.goto("/admin/imagevariants/sourceimage/")
    page.wait_for_function(
        "Array.from(document.images).some(i => i.classList.contains('iv-thumb') && i.complete && i.naturalWidth > 0)"
    )
    shot(page, "07-source-changelist")


def test_deploy_is_offered_only_with_the_permission(page, settings):
    settings.IMAGEVARIANTS = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "media"}
    VariantPreset.objects.create(name="md", width=250)  # a draft: nothing deployed to CloudFront yet
    publishing.forget()
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    editor = User.objects.create_user("editor", password="pw", is_staff=True)
    for codename in ("view_variantpreset", "change_variantpreset"):
        editor.user_permissions.add(Permission.objects.get(codename=codename))

    login(page, "admin", "pw")
    page.goto("/admin/imagevariants/variantpreset/")
    assert page.locator(".iv-banner").is_visible()
    assert "python manage.py deploy_edge" in page.locator(".iv-banner").inner_text()
    assert page.locator(".iv-banner button", has_text="Deploy presets").is_visible()
    shot(page, "08-banner-with-deploy")
    page.context.clear_cookies()  # log out

    login(page, "editor", "pw")
    page.goto("/admin/imagevariants/variantpreset/")
    assert page.locator(".iv-banner").is_visible()
    assert page.locator("text=Deploy presets").count() == 0
    shot(page, "09-banner-without-deploy")
    status = page.evaluate(
        """async () => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
            const r = await fetch('/admin/imagevariants/variantpreset/deploy/',
                {method: 'POST', headers: {'X-CSRFToken': token}, credentials: 'same-origin'});
            return r.status;
        }"""
    )
    assert status == 403


def test_deploy_returns_at_once_and_the_page_follows_the_deployment_to_its_outcome(page, deploy_process):
    """With a CDN, Deploy starts the deployment's own process (a real one, against the moto server) and shows its
    page at once; the page takes in the progress lines as they come, then shows the outcome."""
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    login(page, "admin", "pw")
    page.goto("/admin/imagevariants/variantpreset/")
    page.click(".iv-banner button:has-text('Deploy presets')")
    page.wait_for_selector("text=Deployment started: this page follows its progress.")
    assert page.locator("#iv-run-outcome").inner_text().startswith("In progress: started by admin.")
    page.wait_for_function("document.getElementById('iv-log').textContent.includes('+ md:')")  # no reload needed
    assert page.locator("#iv-run.iv-run-pending").count() == 1
    shot(page, "10-deployment-in-progress")

    page.wait_for_selector("#iv-run.iv-run-succeeded", timeout=180_000)
    outcome = page.locator("#iv-run-outcome").inner_text()
    assert outcome.startswith("Succeeded: arn:aws:lambda:") and outcome.endswith(
        ":function:imagevariants-edge-media:1 is live."
    )
    assert "Deployed: arn:aws:lambda:" in page.locator("#iv-log").inner_text()
    shot(page, "11-deployment-succeeded")
    page.goto("/admin/imagevariants/variantpreset/")
    assert page.locator(".iv-banner").count() == 0  # every preset is live
