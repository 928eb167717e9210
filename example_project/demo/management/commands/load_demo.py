"""Create the demo presets (the article's sm/md/lg/xl), source images and an article, and publish the presets on
the local edge. Safe to run again."""

import io
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from PIL import Image, ImageDraw

from example_project.demo.models import Article
from imagevariants import conf, publishing
from imagevariants.models import SourceImage, VariantPreset

PHOTOS = Path(__file__).resolve().parents[3] / "photos"
PRESETS = {"sm": 100, "md": 250, "lg": 700, "xl": 1200}
ARTICLE = "A nuthatch, photographed with a phone"
ALT = {
    "fossa.jpg": "Illustration of a fossa",
    "kleiber.jpg": "A nuthatch on a branch",
    "infinite-sea.jpg": "Sea and sky",
    "painting-colors.jpg": "Paint colours",
}


def _rotated_phone_photo() -> bytes:
    """A photo stored sideways with EXIF orientation 6, as phones write them."""
    image = Image.open(PHOTOS / "kleiber.jpg").rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def _transparent_png() -> bytes:
    """An RGBA PNG (the article's images/test.png): a photo in a rounded frame with transparent corners."""
    image = Image.open(PHOTOS / "painting-colors.jpg").convert("RGBA")
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, *image.size), radius=image.width // 6, fill=255)
    image.putalpha(mask)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Command(BaseCommand):
    help = "Load the demo presets and photographs."

    def handle(self, *args, **options):
        for name, width in PRESETS.items():
            VariantPreset.objects.get_or_create(name=name, defaults={"width": width, "quality": 80})
        if conf.settings().local_mode:  # also presets that were there, never published: the demo page needs them
            publishing.publish_locally()
        sources = {f"images/{path.name}": path.read_bytes() for path in sorted(PHOTOS.glob("*.jpg"))}
        sources["images/phone-rotated.jpg"] = _rotated_phone_photo()
        sources["images/test.png"] = _transparent_png()
        for key, data in sources.items():
            if SourceImage.objects.filter(file=key).exists():
                continue
            name = key.removeprefix("images/")
            source = SourceImage(alt=ALT.get(name, name))
            source.file.save(name, ContentFile(data), save=False)
            source.save()
            self.stdout.write(f"added {source.file.name} ({source.width}x{source.height})")
        if not Article.objects.filter(title=ARTICLE).exists():
            article = Article(title=ARTICLE)
            article.photo.save("article-phone.jpg", ContentFile(_rotated_phone_photo()))
            self.stdout.write(f"added article {article.photo.name} ({article.photo_width}x{article.photo_height})")
        self.stdout.write(self.style.SUCCESS(f"{SourceImage.objects.count()} sources, presets: {', '.join(PRESETS)}"))
