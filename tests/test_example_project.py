"""The demo page: every image on it is a variant of the right size and type, made once, then served from storage."""

import re
from html import unescape

import pytest
from django.core.management import call_command

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
    page = client.get("/demo/").content.decode()

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
    page = client.get("/demo/").content.decode()
    url = re.search(r'<img src="([^"]+phone-rotated\.jpg)"', page).group(1)
    _, content = fetch(client, url)
    image = images.decode(content)
    assert image.width > image.height  # stored sideways with orientation 6, shown landscape
    assert not image.getexif()  # no metadata leaves the edge
