"""What the template tags cost to render, beside a plain ``{{ image.file.url }}``.

Run: ``python benchmarks/render.py`` (about 15 s; ``--rounds 5`` for a quick run, ``--profile variant_url`` for a
cProfile of one template instead). Django is set up in this process as the tests set it up: SQLite in memory, a
``FileSystemStorage`` in a temporary folder, the presets sm, md, lg and xl (100, 250, 700 and 1200 px, each with
AVIF and WebP) published, and ``--sources`` 800x600 ``SourceImage`` rows read by one query before anything is
timed, as a view would.

Each template loops over the sources with one tag: ``{{ s.file.url }}`` (the storage's own URL, what a Django
project pays today: the baseline), ``{% variant_url s "md" %}``, ``{% srcset s "sm md lg" %}`` and
``{% picture s "sm md lg xl" %}``, plus an empty loop (what the loop itself costs). They run in two modes: with
``CDN_URL`` configured (production) and on the local edge (URLs under the route of ``imagevariants.urls``). The
rounds are interleaved: in each round and mode, every template renders the page ``--repeat`` times in turn, in an
order that rotates from round to round, and the fastest render is the round's time.

A tag's cost is the round's time a source minus the empty loop's; its ratio to the baseline is taken in each round
(times measured side by side) and the median of the rounds' ratios is printed, beside the median times. The speed
of a shared machine drifts from second to second: ratios are what to compare between runs, not microseconds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CDN = "https://d111111abcdef8.cloudfront.net"
TEMPLATES = {
    "empty loop": "",
    "{{ s.file.url }}": "{{ s.file.url }}",
    "variant_url": '{% variant_url s "md" %}',
    "srcset": '{% srcset s "sm md lg" %}',
    "picture": '{% picture s "sm md lg xl" %}',
}
BASELINE = "{{ s.file.url }}"
#: Where the local edge's route is mounted (``reverse`` gives the URLs under it).
urlpatterns: list = []


def setup(media_root: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        DEBUG=False,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "imagevariants"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        ROOT_URLCONF=__name__,
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "APP_DIRS": True}],
        MEDIA_URL="/media/",
        MEDIA_ROOT=media_root,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        IMAGEVARIANTS={},
        USE_TZ=True,
    )
    django.setup()
    from django.urls import include, path

    urlpatterns.append(path("variants/", include("imagevariants.urls")))


def populate(count: int) -> list:
    """The presets, published to both targets, and ``count`` sources; returns the sources as a view has them."""
    from django.core.management import call_command
    from django.db import transaction

    from imagevariants import publishing
    from imagevariants.models import Publication, SourceImage, VariantPreset

    call_command("migrate", verbosity=0)
    with transaction.atomic():  # the local publication runs once this commits
        for name, width in {"sm": 100, "md": 250, "lg": 700, "xl": 1200}.items():
            VariantPreset.objects.create(name=name, width=width, quality=80)
    publishing.record(publishing.draft_document(), Publication.Target.CLOUDFRONT, status=Publication.Status.SUCCEEDED)
    assert publishing.last_publication(Publication.Target.LOCAL) is not None
    SourceImage.objects.bulk_create(
        SourceImage(file=f"images/photo-{i:04d}.jpg", width=800, height=600, format="jpeg", sha256=f"{i:064x}")
        for i in range(count)
    )
    return list(SourceImage.objects.all())


def modes() -> dict[str, dict]:
    return {"CDN": {"CDN_URL": CDN, "BUCKET": "media"}, "local edge": {}}


def measure(count: int, rounds: int, repeat: int) -> dict[tuple[str, str], dict]:
    """Each round, in each mode: every template rendered ``repeat`` times in turn, the fastest kept."""
    from django.template import Context, Template
    from django.test import override_settings

    sources = populate(count)
    templates = {
        label: Template("{% load imagevariants %}{% for s in sources %}" + body + "{% endfor %}")
        for label, body in TEMPLATES.items()
    }
    times: dict[tuple[str, str], list[float]] = {(mode, label): [] for mode in modes() for label in templates}
    urls: dict[tuple[str, str], float] = {}
    labels = list(templates)
    for round_ in range(rounds):
        for mode, options in modes().items():
            with override_settings(IMAGEVARIANTS=options):  # resets every cache made of settings
                for label, template in templates.items():  # warm: the published presets read, nothing timed
                    html = template.render(Context({"sources": sources}))
                    urls[mode, label] = html.count("/_v/" if label != BASELINE else "/media/") / count
                order = labels[round_ % len(labels) :] + labels[: round_ % len(labels)]
                best = dict.fromkeys(labels, float("inf"))
                gc.collect()
                gc.disable()
                try:
                    for _ in range(repeat):
                        for label in order:
                            context = Context({"sources": sources})
                            started = time.perf_counter_ns()
                            templates[label].render(context)
                            best[label] = min(best[label], time.perf_counter_ns() - started)
                finally:
                    gc.enable()
                for label in labels:
                    times[mode, label].append(best[label] / count / 1000)
    results = {}
    for mode in modes():
        loop = times[mode, "empty loop"]
        baseline = [t - empty for t, empty in zip(times[mode, BASELINE], loop, strict=True)]
        for label in labels:
            values = times[mode, label]
            net = [t - empty for t, empty in zip(values, loop, strict=True)]
            results[mode, label] = {
                "median": statistics.median(values),
                "best": min(values),
                "net": statistics.median(net),
                "urls": urls[mode, label],
                # the ratio of each round, of times taken side by side; the median of those
                "ratio": statistics.median(n / b for n, b in zip(net, baseline, strict=True)),
            }
    return results


def report(results: dict[tuple[str, str], dict], count: int, rounds: int, repeat: int) -> None:
    print(f"{count} sources a page; {rounds} rounds, each the fastest of {repeat} renders; median of the rounds")
    print()
    print("| mode | template | µs a source (fastest round) | µs a tag, net of the loop | URLs a tag | µs an URL | "
          "tag / baseline | an URL / baseline |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for mode in modes():
        for label in TEMPLATES:
            row = results[mode, label]
            gross = f"{row['median']:.2f} ({row['best']:.2f})"
            if label == "empty loop":
                print(f"| {mode} | empty loop | {gross} | - | - | - | - | - |")
                continue
            name = label if label == BASELINE else f"{{% {label} %}}"
            per_url = row["net"] / row["urls"]
            print(
                f"| {mode} | `{name}` | {gross} | {row['net']:.2f} | {row['urls']:g} | {per_url:.2f} | "
                f"{row['ratio']:.2f}x | {row['ratio'] / row['urls']:.2f}x |"
            )


def profile(count: int, mode: str, label: str) -> None:
    import cProfile
    import pstats

    from django.template import Context, Template
    from django.test import override_settings

    sources = populate(count)
    template = Template("{% load imagevariants %}{% for s in sources %}" + TEMPLATES[label] + "{% endfor %}")
    with override_settings(IMAGEVARIANTS=modes()[mode]):
        template.render(Context({"sources": sources}))
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            template.render(Context({"sources": sources}))
        profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=200, help="Sources on the page (default 200).")
    parser.add_argument("--rounds", type=int, default=30, help="Interleaved rounds (default 30).")
    parser.add_argument("--repeat", type=int, default=3, help="Renders of each template a round (default 3).")
    parser.add_argument("--profile", choices=[label for label in TEMPLATES if label != "empty loop"],
                        help="Profile this template (20 renders) instead of measuring.")  # fmt: skip
    parser.add_argument("--mode", choices=list(modes()), default="CDN", help="With --profile: the mode (CDN).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagevariants-bench-") as media_root:
        setup(media_root)
        if args.profile:
            profile(args.sources, args.mode, args.profile)
        else:
            report(measure(args.sources, args.rounds, args.repeat), args.sources, args.rounds, args.repeat)


if __name__ == "__main__":
    main()
