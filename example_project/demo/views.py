from django.shortcuts import render

from example_project.demo.models import Article
from imagevariants.models import SourceImage, VariantPreset


def gallery(request):
    sources = list(SourceImage.objects.order_by("pk"))
    return render(
        request,
        "demo/gallery.html",
        {
            "sources": sources,
            "first": sources[0] if sources else None,
            "presets": VariantPreset.objects.all(),
            "articles": Article.objects.exclude(photo=""),
        },
    )
