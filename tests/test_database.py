"""The suite runs on the database it was asked for: SQLite by default, a throwaway PostgreSQL server with
IMAGEVARIANTS_TEST_DATABASE=postgresql (tests/postgres.py)."""

import os

import pytest
from django.db import connection

from imagevariants.models import Publication, VariantPreset


@pytest.mark.django_db
def test_the_database_asked_for():
    wanted = os.environ.get("IMAGEVARIANTS_TEST_DATABASE", "sqlite")
    assert connection.vendor == wanted
    VariantPreset.objects.create(name="md", width=250)
    assert VariantPreset.objects.get().specs()[0].width == 250
    assert Publication._meta.db_table == "imagevariants_publication"
