"""imagevariants.edge runs in Lambda, where there is no Django: it must import and work without it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib.abc, sys

class NoDjango(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "django" or name.startswith("django."):
            raise ImportError("Django is not available in Lambda")

sys.meta_path.insert(0, NoDjango())
import base64, io, json, pkgutil
import imagevariants.edge as edge
modules = [m.name for m in pkgutil.iter_modules(edge.__path__)]
for name in modules:
    __import__("imagevariants.edge." + name)
from imagevariants.edge.events import origin_response_event
from imagevariants.edge.handler import respond
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec
from PIL import Image

class Memory:
    def __init__(self): self.objects = {}
    def read(self, key, max_bytes):
        from imagevariants.edge.errors import SourceMissing
        if key not in self.objects: raise SourceMissing(key)
        return self.objects[key]
    def write(self, key, data, content_type, cache_control): self.objects[key] = data

store = Memory()
buf = io.BytesIO(); Image.new("RGB", (400, 300), "blue").save(buf, "JPEG")
store.objects["images/a b.jpg"] = buf.getvalue()
doc = Document.build({"md": [Spec(200, format="webp")]})
key = doc.outputs("md")[0].key("images/a b.jpg", doc.prefix)
response = respond(origin_response_event("/" + key.replace(" ", "%20")), store, doc)
assert response["status"] == "200", response
assert Image.open(io.BytesIO(base64.b64decode(response["body"]))).size == (200, 150)
assert not any(m == "django" or m.startswith("django.") for m in sys.modules), "django was imported"
print("OK", ",".join(sorted(modules)))
"""


def test_edge_imports_and_runs_with_django_unimportable():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("OK "), result.stdout
    assert {"handler", "keys", "pipeline", "presets", "store"} <= set(last[3:].split(","))


def test_edge_sources_import_nothing_from_the_django_side():
    for path in (ROOT / "imagevariants" / "edge").glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "django" not in stripped, f"{path.name}: {stripped}"
                assert not stripped.startswith("from imagevariants") or stripped.startswith(
                    "from imagevariants.edge"
                ), f"{path.name}: {stripped}"
                assert not stripped.startswith("from .."), f"{path.name}: {stripped}"
