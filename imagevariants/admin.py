"""The admin: presets with a live preview and their publication state, sources and their variants, deployments."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from . import conf, publishing, purge, runner
from .edge.errors import EdgeError
from .exceptions import UnknownPreset
from .models import Publication, SourceImage, VariantPreset
from .preview import make_preview
from .variants import candidate

logger = logging.getLogger(__name__)
DEPLOY_PERMISSION = "imagevariants.deploy_edge"
PUBLISH_COMMAND = "python manage.py deploy_edge"


def publication_context(request: HttpRequest) -> dict[str, Any]:
    """What the banner needs: presets not live, the command that publishes them, whether to offer the button."""
    published = publishing.published_document()
    presets = list(VariantPreset.objects.all())
    deploying = Publication.objects.filter(
        target=Publication.Target.CLOUDFRONT, status=Publication.Status.PENDING
    ).first()
    pending = [p for p in presets if publishing.preset_state(p, published) != "live"]
    removed = sorted(set(published.presets) - {p.name for p in presets}) if published else []
    return {
        "imagevariants_pending": pending,
        "imagevariants_removed": removed,
        "imagevariants_command": PUBLISH_COMMAND,
        "imagevariants_can_deploy": request.user.has_perm(DEPLOY_PERMISSION),
        "imagevariants_deploy_url": reverse("admin:imagevariants_variantpreset_deploy"),
        "imagevariants_local": conf.settings().local_mode,
        "imagevariants_deploying": deploying,  # its page is linked; the button again once its process died
        "imagevariants_deploying_stopped": deploying is not None and runner.state(deploying) == runner.STOPPED,
    }


class StateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("live", _("Live")), ("draft", _("Draft (unpublished changes)")), ("unpublished", _("Never published"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        published = publishing.published_document()
        keep = [p.pk for p in queryset if publishing.preset_state(p, published) == self.value()]
        return queryset.filter(pk__in=keep)


@admin.register(VariantPreset)
class VariantPresetAdmin(admin.ModelAdmin):
    list_display = ("name", "size", "formats", "quality", "fingerprint", "state")
    list_filter = ("fit", "format", StateFilter)
    search_fields = ("name",)
    readonly_fields = ("fingerprint",)
    fieldsets = (
        (None, {"fields": ("name", ("width", "height", "fit"), ("quality", "format"), ("avif", "webp"), "background")}),
        (_("Revision"), {"fields": ("fingerprint",)}),
    )

    class Media:
        css = {"all": ("imagevariants/admin.css",)}
        js = ("imagevariants/preview.js",)

    @admin.display(description=_("size"))
    def size(self, preset: VariantPreset) -> str:
        if preset.height:
            return f"{preset.width}×{preset.height} {preset.fit}"
        return f"{preset.width} wide"

    @admin.display(description=_("fingerprint"))
    def fingerprint(self, preset: VariantPreset) -> str:
        return preset.fingerprint if preset.pk else "—"

    @admin.display(description=_("formats"))
    def formats(self, preset: VariantPreset) -> str:
        return ", ".join(s.format or str(_("as source")) for s in preset.specs())

    @admin.display(description=_("state"))
    def state(self, preset: VariantPreset) -> str:
        state = publishing.preset_state(preset, publishing.published_document())
        labels = {"live": _("live"), "draft": _("draft: unpublished changes"), "unpublished": _("never published")}
        return format_html('<span class="iv-state iv-state-{}">{}</span>', state, labels[state])

    def get_urls(self) -> list:
        urls = [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="imagevariants_variantpreset_preview"),
            path("deploy/", self.admin_site.admin_view(self.deploy_view), name="imagevariants_variantpreset_deploy"),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**publication_context(request), **(extra_context or {})})

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        context = {
            **publication_context(request),
            "imagevariants_preview_url": reverse("admin:imagevariants_variantpreset_preview"),
            "imagevariants_sources": SourceImage.objects.order_by("-created_at")[:50],
            **(extra_context or {}),
        }
        return super().changeform_view(request, object_id, form_url, context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        preset = self.get_object(request, object_id)
        live = preset is not None and publishing.preset_state(preset, publishing.published_document()) != "unpublished"
        return super().delete_view(request, object_id, {"imagevariants_live": live, **(extra_context or {})})

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """POST the form's values: the unsaved preset applied to a source, as JSON (errors per field if invalid)."""
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        instance = None
        if request.POST.get("object_id"):
            instance = get_object_or_404(VariantPreset, pk=request.POST["object_id"])
        form = self.get_form(request, instance)(request.POST, instance=instance)
        if not form.is_valid():
            return JsonResponse({"errors": form.errors.get_json_data()}, status=422)
        source = None
        if request.POST.get("source"):
            source = get_object_or_404(SourceImage, pk=request.POST["source"])
        try:
            preview = make_preview(form.save(commit=False), source)
        except (EdgeError, OSError) as exc:
            return JsonResponse({"errors": {"__all__": [{"message": str(exc)}]}}, status=422)
        return JsonResponse(preview.as_dict())

    def deploy_view(self, request: HttpRequest) -> HttpResponse:
        """Publish the presets by the same code paths as ``manage.py deploy_edge``: on the local edge at once, to
        CloudFront in a process of its own (``runner``), whose progress the deployment's page shows."""
        if not request.user.has_perm(DEPLOY_PERMISSION):
            raise PermissionDenied
        return _deploy(request)


@require_POST
def _deploy(request: HttpRequest) -> HttpResponse:
    by = request.user.get_username()
    changelist = reverse("admin:imagevariants_variantpreset_changelist")
    if not conf.settings().local_mode:
        return _deploy_to_cloudfront(request, by, changelist)
    try:
        deployment = publishing.publish_locally(by)
    except Exception as exc:  # the editor gets its reason
        logger.exception("Deploying presets from the admin failed")
        messages.error(request, _("Deploying the presets failed: %(error)s") % {"error": exc})
    else:
        messages.success(
            request,
            _("Presets published (%(target)s, document %(sha)s). %(note)s")
            % {
                "target": deployment.get_target_display(),
                "sha": deployment.document_sha256[:12],
                "note": deployment.note,
            },
        )
    return HttpResponseRedirect(changelist)


def _deploy_to_cloudfront(request: HttpRequest, by: str, changelist: str) -> HttpResponse:
    """Start the deployment and answer at once with its page, which follows it (minutes: build, AWS, propagation)."""
    try:
        deployment = runner.begin(by)
    except Exception as exc:  # nothing started; the editor gets the reason (the build step to run, the holder)
        logger.warning("Deploying presets from the admin was refused: %s", exc)
        messages.error(request, _("Deploying the presets failed: %(error)s") % {"error": exc})
        holder = Publication.objects.filter(
            target=Publication.Target.CLOUDFRONT, status=Publication.Status.PENDING
        ).first()
        if holder is not None:  # another deployment runs, or died: its page shows which, and the way out
            return HttpResponseRedirect(reverse("admin:imagevariants_publication_change", args=[holder.pk]))
        return HttpResponseRedirect(changelist)
    messages.info(request, _("Deployment started: this page follows its progress."))
    return HttpResponseRedirect(reverse("admin:imagevariants_publication_change", args=[deployment.pk]))


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "key", "dimensions", "format", "bytes", "created_at")
    list_display_links = ("thumbnail", "key")
    search_fields = ("file", "alt")
    list_filter = ("format",)
    readonly_fields = ("width", "height", "format", "bytes", "sha256", "created_at", "variants")
    fields = ("file", "alt", ("width", "height"), ("format", "bytes"), "sha256", "created_at", "variants")
    actions = ["purge_selected"]

    class Media:
        css = {"all": ("imagevariants/admin.css",)}

    def save_model(self, request: HttpRequest, obj: SourceImage, form: Any, change: bool) -> None:
        with _reporting_removals(request):
            super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: SourceImage) -> None:
        with _reporting_removals(request):
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with _reporting_removals(request):
            super().delete_queryset(request, queryset)

    @admin.action(permissions=["delete"], description=_("Remove everywhere: originals, every variant, CDN"))
    def purge_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """The takedown path of ``manage.py purge_source``, for the selected sources, after a confirmation page."""
        keys = sorted({name for name in queryset.values_list("file", flat=True) if name})
        if request.POST.get("post"):
            if hasattr(self, "log_deletions"):  # Django 5.1+
                self.log_deletions(request, queryset)
            else:
                for obj in queryset:
                    self.log_deletion(request, obj, str(obj))
            paths: list[str] = []
            outcome = purge.purge_sources(keys, not_invalidated=paths.append)
            if outcome.errors:
                logger.error(
                    "Purging %s: %s%s",
                    ", ".join(keys),
                    " ".join(outcome.errors),
                    f" Paths not invalidated: {' '.join(paths)}" if paths else "",
                )
            self.message_user(
                request,
                " ".join([outcome.summary(), *outcome.errors]),
                messages.ERROR if outcome.errors else messages.SUCCESS,
            )
            return None
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "title": _("Remove sources everywhere"),
            "opts": self.model._meta,
            "queryset": queryset,
            "keys": keys,
            "rows": SourceImage.objects.filter(file__in=keys).count(),
            "prefix": conf.settings().variant_prefix,
            "cdn": conf.settings().cdn_url,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/imagevariants/sourceimage/purge_confirmation.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        return super().changelist_view(request, {**publication_context(request), **(extra_context or {})})

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        return super().changeform_view(
            request, object_id, form_url, {**publication_context(request), **(extra_context or {})}
        )

    @admin.display(description=_("size"))
    def dimensions(self, source: SourceImage) -> str:
        return f"{source.width}×{source.height}"

    @admin.display(description=_("preview"))
    def thumbnail(self, source: SourceImage) -> str:
        document = publishing.published_document()
        if not document or not document.presets:
            return "—"
        smallest = min(document.presets, key=lambda name: document.presets[name].outputs(name)[0].spec.width)
        try:
            thumb = candidate(source, smallest)
        except UnknownPreset:
            return "—"
        return format_html('<img src="{}" class="iv-thumb" alt="" loading="lazy" decoding="async">', thumb.url)

    @admin.display(description=_("published variants"))
    def variants(self, source: SourceImage) -> str:
        document = publishing.published_document()
        if not source.pk or not document:
            return _("None yet: save the source, and publish presets.")
        rows = []
        for name, preset in sorted(document.presets.items(), key=lambda item: item[1].outputs(item[0])[0].spec.width):
            for output in preset.outputs(name):
                variant = candidate(source, name, output.spec.format)
                rows.append(
                    (
                        name,
                        output.spec.format or source.format,
                        f"{variant.width}×{variant.height}" if variant.width else "?",
                        variant.url,
                        variant.url,
                        variant.url,
                    )
                )
        body = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td><a href="{}"><code>{}</code></a></td>'
            '<td><img src="{}" class="iv-thumb" alt="" loading="lazy" decoding="async"></td></tr>',
            rows,
        )
        return format_html(
            '<table class="iv-variants"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>URL</th><th>{}</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            _("preset"),
            _("format"),
            _("size"),
            _("preview"),
            body,
        )


@contextlib.contextmanager
def _reporting_removals(request: HttpRequest) -> Iterator[None]:
    """Once the transaction of the change made in the block commits, tell the editor what removing the files the
    change left behind did (the removals run first: they were scheduled first)."""
    with purge.watching() as batches:
        yield
    transaction.on_commit(lambda: _report_removals(request, batches))


def _report_removals(request: HttpRequest, batches: list[purge.Batch]) -> None:
    for batch in batches:
        if batch.outcome is None:
            continue
        sources = [removal.source for removal in batch.removals]
        named = ", ".join(sources) if len(sources) <= 3 else _("%(count)s sources") % {"count": len(sources)}
        if batch.outcome.errors:
            messages.error(
                request,
                _(
                    "The change is saved, but the old files of %(sources)s were not all removed: %(errors)s What is"
                    " left is logged; `python manage.py purge_source KEY` removes a source's files everywhere."
                )
                % {"sources": named, "errors": " ".join(batch.outcome.errors)},
            )
        else:
            messages.info(
                request,
                _("Old files of %(sources)s: %(summary)s") % {"sources": named, "summary": batch.outcome.summary()},
            )


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "target",
        "created_by",
        "outcome",
        "document_sha",
        "bundle_sha",
        "function_arn",
        "error",
        "note",
    )
    list_filter = ("target", "status")
    readonly_fields = [f.name for f in Publication._meta.fields if f.name != "log"]
    exclude = ("log",)  # shown above the fields, as it grows

    class Media:
        css = {"all": ("imagevariants/admin.css",)}
        js = ("imagevariants/progress.js",)

    @admin.display(description=_("status"), ordering="status")
    def outcome(self, deployment: Publication) -> str:
        if runner.state(deployment) == runner.STOPPED:
            return format_html('<span class="iv-state iv-state-stopped">{}</span>', _("Stopped: its process died"))
        return deployment.get_status_display()

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/progress/", view(self.progress_view), name="imagevariants_publication_progress"),
            path("<path:object_id>/abandon/", view(self.abandon_view), name="imagevariants_publication_abandon"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        deployment = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if deployment is not None:
            context["imagevariants_run"] = {
                "state": runner.state(deployment),
                "progress_url": reverse("admin:imagevariants_publication_progress", args=[deployment.pk]),
                "abandon_url": reverse("admin:imagevariants_publication_abandon", args=[deployment.pk]),
                "can_abandon": request.user.has_perm(DEPLOY_PERMISSION),
            }
        return super().change_view(request, object_id, form_url, context)

    def progress_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The deployment's status and progress lines, as JSON: its page polls this while it runs."""
        deployment = get_object_or_404(Publication, pk=object_id)
        if not self.has_view_permission(request, deployment):
            raise PermissionDenied
        return JsonResponse(
            {
                "status": deployment.status,
                "status_display": deployment.get_status_display(),
                "state": runner.state(deployment),
                "log": deployment.log,
                "error": deployment.error,
                "note": deployment.note,
                "finished_at": deployment.finished_at.isoformat() if deployment.finished_at else None,
            }
        )

    def abandon_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Mark a deployment whose run died as failed, which releases the lock (``deploy_edge --abandon-pending``)."""
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        if not request.user.has_perm(DEPLOY_PERMISSION):
            raise PermissionDenied
        deployment = get_object_or_404(Publication, pk=object_id)
        if runner.state(deployment) == runner.RUNNING:
            messages.error(request, _("This deployment is still running: it was not marked abandoned."))
        elif runner.abandon(deployment, request.user.get_username()):
            messages.success(request, _("Marked as abandoned: another deployment can start."))
        else:
            messages.info(request, _("This deployment had already ended."))
        return HttpResponseRedirect(reverse("admin:imagevariants_publication_change", args=[deployment.pk]))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Who may deploy may follow deployments."""
        return super().has_view_permission(request, obj) or request.user.has_perm(DEPLOY_PERMISSION)

    @admin.display(description=_("document"))
    def document_sha(self, deployment: Publication) -> str:
        return deployment.document_sha256[:12]

    @admin.display(description=_("bundle"))
    def bundle_sha(self, deployment: Publication) -> str:
        return deployment.bundle_sha256[:12]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
