"""``path("variants/", include("imagevariants.urls"))``: the local edge, used when no CDN is configured."""

from django.urls import path

from . import local_edge

app_name = "imagevariants"
urlpatterns = [path("<path:key>", local_edge.serve, name="edge")]
