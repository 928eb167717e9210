"""The REST framework field: what {% picture %} renders, as data, with absolute URLs, at the tags' cost."""

import html
import importlib
import json
import logging
import re
import sys

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.template import Context, Template
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

import imagevariants
from imagevariants import conf, publishing
from imagevariants.exceptions import UnknownPreset
from imagevariants.models import Publication, SourceImage, VariantPreset
from imagevariants.rest_framework import VariantField
from tests import images
from tests.test_render_cost import CountingStorage
from tests.testapp.models import Photo

pytestmark = pytest.mark.django_db
CDN = {"CDN_URL": "https://d111111abcdef8.cloudfront.net", "BUCKET": "b"}
PRESETS = "sm md lg xl"


class SourceImageSerializer(serializers.ModelSerializer):
    image = VariantField(PRESETS, source="file")

    class Meta:
        model = SourceImage
        fields = ["id", "alt", "image"]


class PhotoSerializer(serializers.ModelSerializer):
    image = VariantField("sm md")

    class Meta:
        model = Photo
        fields = ["id", "title", "image"]


def picture_data(source, presets=PRESETS):
    """What ``{% picture %}`` renders for ``source``, read back out of its markup in the field's shape."""
    markup = Template("{% load imagevariants %}{% picture s p %}").render(Context({"s": source, "p": presets}))

    def attr(tag, name):
        found = re.search(rf' {name}="([^"]*)"', tag)
        return html.unescape(found.group(1)) if found else None

    img = re.search(r"<img [^>]+>", markup).group(0)
    size = [attr(img, "width"), attr(img, "height")]
    return {
        "url": attr(img, "src"),
        "width": int(size[0]) if size[0] else None,
        "height": int(size[1]) if size[1] else None,
        "srcset": attr(img, "srcset"),
        "sources": [
            {"type": attr(t, "type"), "srcset": attr(t, "srcset")} for t in re.findall(r"<source [^>]+>", markup)
        ],
    }


def absolute(data, origin):
    """``data`` with each of its URLs prefixed by ``origin``."""

    def srcset(value):
        return ", ".join(origin + entry for entry in value.split(", "))

    return {
        **data,
        "url": origin + data["url"],
        "srcset": srcset(data["srcset"]),
        "sources": [{**s, "srcset": srcset(s["srcset"])} for s in data["sources"]],
    }


def request(**extra):
    return Request(APIRequestFactory().get("/api/images/", **extra))


def test_the_data_of_picture_without_a_request(presets, source):
    data = SourceImageSerializer(source).data
    assert data["alt"] == "A test picture"
    image = data["image"]
    assert image == picture_data(source)
    # The largest candidate (xl, kept at the 800x600 source's own size), relative on the local edge.
    assert image["url"].startswith(f"/variants/_v/xl.{presets['xl'].specs()[0].fingerprint}.c")
    assert (image["width"], image["height"]) == (800, 600)
    assert [s["type"] for s in image["sources"]] == ["image/avif", "image/webp"]
    assert image["srcset"].endswith(" 800w") and image["srcset"].count("/variants/_v/") == 4
    assert all(".avif " in entry for entry in image["sources"][0]["srcset"].split(", "))


def test_absolute_urls_with_a_request_in_the_context(presets, source):
    data = SourceImageSerializer(source, context={"request": request()}).data["image"]
    assert data["url"].startswith("http://testserver/variants/_v/xl.")
    assert data == absolute(picture_data(source), "http://testserver")
    secure = request(HTTP_HOST="api.example.com", secure=True)
    data = SourceImageSerializer(source, context={"request": secure}).data["image"]
    assert data == absolute(picture_data(source), "https://api.example.com")


def test_through_a_view(presets, source):
    """A list view gives its request to the serializer: absolute URLs in the JSON."""
    images.tracked("second.jpg", images.jpeg(300, 200))
    view = generics.ListAPIView.as_view(
        queryset=SourceImage.objects.order_by("pk"),
        serializer_class=SourceImageSerializer,
        authentication_classes=[],
        permission_classes=[],
    )
    response = view(APIRequestFactory().get("/api/images/"))
    response.render()
    items = json.loads(response.content)
    assert [item["image"] for item in items] == [
        absolute(picture_data(s), "http://testserver") for s in SourceImage.objects.order_by("pk")
    ]
    assert (items[1]["image"]["width"], items[1]["image"]["height"]) == (300, 200)  # lg and xl: at 300 px


def test_with_a_cdn_the_urls_are_the_cdns(presets, source):
    with override_settings(IMAGEVARIANTS=CDN):
        publishing.record(
            publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED
        )
        expected = picture_data(source)
        assert expected["url"].startswith("https://d111111abcdef8.cloudfront.net/_v/xl.")
        assert SourceImageSerializer(source).data["image"] == expected
        assert SourceImageSerializer(source, context={"request": request()}).data["image"] == expected


def test_a_model_of_ones_own(presets):
    """A VariantImageField's recorded size; the field under its model field's name."""
    photo = Photo(title="Cat")
    photo.image.save("cat.jpg", ContentFile(images.jpeg(640, 480)))
    data = PhotoSerializer(photo, context={"request": request()}).data
    assert data["title"] == "Cat"
    assert data["image"] == absolute(picture_data(photo.image, "sm md"), "http://testserver")
    assert (data["image"]["width"], data["image"]["height"]) == (250, 188)


def test_a_storage_key_has_no_size(presets):
    field = VariantField(["md", "sm"])
    data = field.to_representation("images/my photo é.jpg")
    assert data == picture_data("images/my photo é.jpg", "md sm")
    assert data["width"] is None and data["height"] is None
    assert data["url"].endswith("/images/my%20photo%20%C3%A9.jpg") and data["srcset"].endswith(" 250w")


@pytest.mark.parametrize("empty", ["source", "field", "photo", "key", "whole instance"])
def test_no_image_is_none(presets, empty, caplog):
    caplog.set_level(logging.WARNING, logger="imagevariants")
    if empty == "photo":
        assert PhotoSerializer(Photo.objects.create(title="No image")).data["image"] is None
    elif empty == "whole instance":

        class WholeSerializer(serializers.Serializer):
            image = VariantField("sm md", source="*")

        assert WholeSerializer(SourceImage()).data == {"image": None}
    else:
        value = {"source": SourceImage(), "field": SourceImage().file, "key": ""}[empty]
        assert VariantField("sm md").to_representation(value) is None
    assert "No image for" not in caplog.text  # null is an answer in an API, not a page missing an image


def test_sources_only_for_formats_every_preset_offers(presets, source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # published on the local edge
        VariantPreset.objects.create(name="webponly", width=300, avif=False)
        VariantPreset.objects.create(name="plain", width=100, avif=False, webp=False)
    field = VariantField("md webponly")
    assert field.to_representation(source) == picture_data(source, "md webponly")
    assert [s["type"] for s in field.to_representation(source)["sources"]] == ["image/webp"]
    assert VariantField("plain").to_representation(source)["sources"] == []


def test_unknown_presets_as_picture(presets, source, settings, caplog):
    settings.DEBUG = True
    with pytest.raises(UnknownPreset, match="'huge'"):
        VariantField("sm huge").to_representation(source)
    settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="imagevariants"):
        data = VariantField("sm huge").to_representation(source)
    assert "Unknown image preset 'huge'" in caplog.text
    # The <img> {% picture %} falls back to: the original at the source's size; srcset as {% srcset %} gives it.
    original = "/media/images/photo.jpg"
    assert data == {"url": original, "width": 800, "height": 600, "srcset": original, "sources": []}
    assert picture_data(source, "sm huge")["url"] == original


def test_before_the_first_deploy_the_originals_even_under_debug(presets, source, settings):
    settings.DEBUG = True
    with override_settings(IMAGEVARIANTS=CDN):
        data = SourceImageSerializer(source, context={"request": request()}).data["image"]
    original = "https://d111111abcdef8.cloudfront.net/images/photo.jpg"
    assert data == {"url": original, "width": 800, "height": 600, "srcset": original, "sources": []}


def test_a_list_makes_no_storage_call_and_at_most_one_query(presets, source, settings, monkeypatch):
    SourceImage.objects.bulk_create(
        SourceImage(file=f"images/{i}.jpg", width=800 + i, height=600, format="jpeg", sha256="0" * 64)
        for i in range(19)
    )
    counting = CountingStorage(location=settings.MEDIA_ROOT, base_url=settings.MEDIA_URL)
    monkeypatch.setattr(conf.source_storage, "_wrapped", counting)
    assert source.file.storage.exists(source.key)  # the storage the sources use is the counting one
    CountingStorage.calls.clear()
    publishing.forget()  # the presets are read afresh: the cold case
    context = {"request": request()}
    with CaptureQueriesContext(connection) as cold:
        data = SourceImageSerializer(SourceImage.objects.all(), many=True, context=context).data
    with CaptureQueriesContext(connection) as warm:
        again = SourceImageSerializer(SourceImage.objects.all(), many=True, context=context).data
    assert data == again and len(data) == 20
    assert all(item["image"]["url"].startswith("http://testserver/variants/_v/xl.") for item in data)
    assert CountingStorage.calls == []
    assert len(cold.captured_queries) <= 2, cold.captured_queries  # the list's own, and the published presets
    assert len(warm.captured_queries) == 1, warm.captured_queries  # the list's own
    assert "imagevariants_sourceimage" in warm.captured_queries[0]["sql"]


def test_presets_are_required():
    with pytest.raises(UnknownPreset, match="No preset names"):
        VariantField("")
    assert VariantField("sm md").read_only and VariantField(["sm"], read_only=False).read_only


def test_without_rest_framework_the_import_error_names_the_extra(monkeypatch):
    for name in [name for name in sys.modules if name == "rest_framework" or name.startswith("rest_framework.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rest_framework", None)  # an import of it raises ImportError
    monkeypatch.delitem(sys.modules, "imagevariants.rest_framework", raising=False)
    monkeypatch.delattr(imagevariants, "rest_framework", raising=False)
    with pytest.raises(ImportError, match=r"django-imagevariants\[rest_framework\]"):
        importlib.import_module("imagevariants.rest_framework")
