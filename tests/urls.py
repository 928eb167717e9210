from django.contrib import admin
from django.urls import include, path

from example_project.demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("variants/", include("imagevariants.urls")),
    path("demo/", views.gallery, name="gallery"),
]
