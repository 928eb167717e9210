from django.db import migrations

ACTIONS = ("add", "change", "delete", "view")


def _rename_permissions(apps, old: str, new: str, verbose: str) -> None:
    """Django keeps a renamed model's default permissions under their old codenames: move them (and the groups and
    users that hold them) to the new ones, unless those already exist."""
    try:
        ContentType = apps.get_model("contenttypes", "ContentType")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:  # a project without django.contrib.auth has no permissions to move
        return
    content_type = ContentType.objects.filter(app_label="imagevariants", model__in=(old, new)).first()
    if content_type is None:
        return
    for action in ACTIONS:
        taken = Permission.objects.filter(content_type=content_type, codename=f"{action}_{new}").exists()
        if not taken:
            Permission.objects.filter(content_type=content_type, codename=f"{action}_{old}").update(
                codename=f"{action}_{new}", name=f"Can {action} {verbose}"
            )


def forwards(apps, schema_editor) -> None:
    _rename_permissions(apps, "edgedeployment", "publication", "publication")


def backwards(apps, schema_editor) -> None:
    _rename_permissions(apps, "publication", "edgedeployment", "edge deployment")


class Migration(migrations.Migration):
    """EdgeDeployment is named for what it records, a publication: to the local edge or to CloudFront. Permissions
    granted on it keep working under the new name."""

    dependencies = [
        ("imagevariants", "0003_source_file_field"),
    ]

    operations = [
        migrations.RenameModel(old_name="EdgeDeployment", new_name="Publication"),
        migrations.AlterModelOptions(
            name="publication",
            options={
                "get_latest_by": ["created_at", "pk"],
                "ordering": ["-created_at", "-pk"],
                "permissions": [("deploy_edge", "Can publish presets to the edge")],
                "verbose_name": "publication",
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
