"""``path("variants/", include("imagevariants.urls"))``: the local edge, used when no CDN is configured.

It answers variants only (never an original or another file of the storage), and nothing at all once
``IMAGEVARIANTS["CDN_URL"]`` is set (system check ``imagevariants.W003`` asks to remove it then).
"""

from django.urls import path

from . import local_edge

app_name = "imagevariants"
urlpatterns = [path("<path:key>", local_edge.serve, name="edge")]
