"""A preset whose worst case cannot fit the edge function's memory is refused when saved, and never deployed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from imagevariants.models import VariantPreset

pytestmark = pytest.mark.django_db
FORM = {"name": "full", "width": "8192", "height": "", "fit": "contain", "quality": "80", "format": "",
        "avif": "on", "webp": "on", "background": "#ffffff"}  # fmt: skip


def test_the_admin_refuses_a_full_size_avif_preset(admin_client):
    """A full-size AVIF of a 50 MP source peaks near 2.5 GB (libaom holds about 15 bytes a pixel): with 1536 MB,
    the form says so next to the width, and nothing is saved."""
    response = admin_client.post(reverse("admin:imagevariants_variantpreset_add"), FORM)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["width"]
    assert "needs about" in error and "MEMORY_MB 1536" in error
    assert not VariantPreset.objects.exists()


def test_the_usual_presets_fit(admin_client):
    for name, width in (("sm", "320"), ("lg", "1920")):
        response = admin_client.post(
            reverse("admin:imagevariants_variantpreset_add"), {**FORM, "name": name, "width": width}
        )
        assert response.status_code == 302, response.context["adminform"].form.errors
    full_jpeg = {**FORM, "name": "print", "format": "jpeg", "avif": "", "webp": ""}
    assert admin_client.post(reverse("admin:imagevariants_variantpreset_add"), full_jpeg).status_code == 302


def test_less_memory_refuses_more(settings):
    preset = VariantPreset(name="lg", width=1920, fit="contain", quality=80, format="", avif=True, webp=True)
    preset.full_clean()
    settings.IMAGEVARIANTS = {"MEMORY_MB": 512}
    with pytest.raises(ValidationError, match="MEMORY_MB 512"):
        preset.full_clean()
    settings.IMAGEVARIANTS = {"MEMORY_MB": 512, "MAX_SOURCE_PIXELS": 12_000_000}
    preset.full_clean()  # smaller sources: it fits again
