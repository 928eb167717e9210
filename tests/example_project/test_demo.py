"""The demo page: every image on it is a variant of the right size and type, made once, then served from storage.

These run under the example project's own settings (see conftest.py), as ``make demo`` serves it.
"""

import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from tests import images

pytestmark = pytest.mark.django_db

TYPES = {"image/avif": "AVIF", "image/webp": "WEBP", "image/jpeg": "JPEG", "image/png": "PNG"}


def fetch(client, url):
    response = client.get(url, follow=True)
    assert response.status_code == 200, (url, response.status_code)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response, content


def test_every_image_on_the_demo_page(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=open("/dev/null", "w"))
    page = client.get(reverse("gallery")).content.decode()

    checked = 0
    sets = re.findall(r'<source type="([^"]+)" srcset="([^"]+)"', page)
    sets += [("", srcset) for srcset in re.findall(r'<img src="[^"]+" srcset="([^"]+)"', page)]
    for kind, srcset in sets:
        for entry in unescape(srcset).split(", "):
            url, width = entry.rsplit(" ", 1)
            assert url.startswith("/variants/_v/")
            response, content = fetch(client, url)
            image = images.decode(content)
            assert image.width == int(width[:-1]), url
            if kind:
                assert response["Content-Type"] == kind and image.format == TYPES[kind], url
            again, same = fetch(client, url)
            assert again.streaming and same == content  # second time: from storage
            checked += 1
    assert checked >= 6 * 3 * 3  # six sources, three formats, at least three widths each

    # The per-preset row and the seed-style URL.
    for src in re.findall(r'<img src="([^"]+)" alt="[^"]*\((\w+)\)"', page):
        _, content = fetch(client, unescape(src[0]))
        assert images.decode(content).width == {"sm": 100, "md": 250, "lg": 700, "xl": 1200}[src[1]]
    seed = re.search(r'<img src="(/variants/images/test-sm\.png)"', page).group(1)
    response, content = fetch(client, seed)
    assert response.redirect_chain and response.redirect_chain[0][1] == 302
    image = images.decode(content)
    assert (image.format, image.width, image.mode) == ("PNG", 100, "RGBA")


def test_phone_photo_is_upright(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=open("/dev/null", "w"))
    page = client.get(reverse("gallery")).content.decode()
    url = re.search(r'<img src="([^"]+phone-rotated\.jpg)"', page).group(1)
    _, content = fetch(client, url)
    image = images.decode(content)
    assert image.width > image.height  # stored sideways with orientation 6, shown landscape
    assert not image.getexif()  # no metadata leaves the edge


def test_the_articles_phone_photo_has_its_upright_size(client, django_capture_on_commit_callbacks):
    """The demo's Article has a VariantImageField: its phone photo, stored 900x1600 with orientation 6, records
    1600x900 and its <img> says what the variant is."""
    from example_project.demo.models import Article

    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=open("/dev/null", "w"))
        call_command("load_demo", stdout=open("/dev/null", "w"))  # safe to run again
    article = Article.objects.get()
    with article.photo.open() as stored:
        assert images.decode(stored.read()).size == (900, 1600)
    assert (article.photo_width, article.photo_height) == (1600, 900)

    page = client.get(reverse("gallery")).content.decode()
    img = re.search(r'<img src="([^"]+/images/article-phone\.jpg)"[^>]*>', page)
    assert ' width="1200"' in img.group(0) and ' height="675"' in img.group(0)
    assert f".c{article.photo_sha256[:12]}/images/article-phone.jpg" in img.group(1)
    _, content = fetch(client, unescape(img.group(1)))
    assert images.decode(content).size == (1200, 675)


def test_the_admin_refuses_an_article_photo_the_edge_would_refuse(admin_client):
    from example_project.demo.models import Article

    url = reverse("admin:demo_article_add")
    bad = SimpleUploadedFile("photo.jpg", images.jpeg(800, 600)[:300], content_type="image/jpeg")
    response = admin_client.post(url, {"title": "Broken", "photo": bad})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["photo"] == ["not a decodable image: OSError: Truncated File Read"]
    good = SimpleUploadedFile("phone.jpg", images.jpeg(1200, 900, orientation=6), content_type="image/jpeg")
    response = admin_client.post(url, {"title": "Upright", "photo": good})
    assert response.status_code == 302
    assert Article.objects.values_list("title", "photo_width", "photo_height").get() == ("Upright", 900, 1200)


def test_the_articles_migration_serialises_its_field_cleanly():
    call_command("makemigrations", "demo", check=True, dry_run=True, verbosity=0)  # no changes
