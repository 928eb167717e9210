"""What publishing says to people, in the words ``manage.py deploy_edge`` prints: a deployment's plan, a local
publication. ``deploy`` and ``publishing`` hold the data; the command, the admin and ``migrate`` word it here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .deploy import Plan
    from .edge.presets import Document
    from .models import Publication


def plan_lines(plan: Plan) -> list[str]:
    """The presets a deployment adds, changes and removes; added and changed ones with their current revisions
    (fingerprint and format), changed ones with the revisions they replace."""
    if not (plan.added or plan.changed or plan.removed):
        return ["Presets: no change since the live deployment."]
    lines = [f"+ {name}: {_current(plan.document, name)}" for name in plan.added]
    for name in plan.changed:
        old = ", ".join(plan.before.presets[name].current) if plan.before else ""
        lines.append(f"~ {name}: {old} -> {_current(plan.document, name)} (old revisions still served)")
    lines += [f"- {name}: its URLs will no longer be generated" for name in plan.removed]
    return ["Presets:", *(f"  {line}" for line in lines)]


def _current(document: Document, name: str) -> str:
    preset = document.presets[name]
    return ", ".join(f"{fp} ({preset.revisions[fp].format or 'as source'})" for fp in preset.current)


def local_publication_line(publication: Publication) -> str:
    return f"Local edge: presets published (document {publication.document_sha256[:12]})."
