from django.contrib import admin

from example_project.demo.models import Article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "photo", "photo_width", "photo_height")
    readonly_fields = ("photo_width", "photo_height", "photo_sha256")
    fields = ("title", "photo", ("photo_width", "photo_height"), "photo_sha256")
