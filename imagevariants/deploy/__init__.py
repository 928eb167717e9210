"""Publishing presets to the edge: the code path shared by ``manage.py deploy_edge`` and the admin action."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .. import conf
from ..models import EdgeDeployment
from ..publishing import publish_locally


def publish(by: str = "") -> EdgeDeployment:
    """Publish the current presets. On the local edge this takes effect at once."""
    if conf.local_mode():
        return publish_locally(by)
    raise ImproperlyConfigured("Deploying to CloudFront is done by `manage.py deploy_edge`.")
