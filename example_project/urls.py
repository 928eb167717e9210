from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from example_project.demo import views

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("admin/", admin.site.urls),
    path("variants/", include("imagevariants.urls")),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]
