"""Run real origin-response events through an unzipped bundle's handler (standalone: run with -I -S).

Usage: ``python3.12 -I -S verify_bundle.py BUNDLE_DIR [ENTRY_POINT]``, ENTRY_POINT being the function's configured
handler (``module.function``), which must be a function of the bundle. Prints one JSON line; exits non-zero on any
failure.
"""

import base64
import importlib
import io
import json
import sys
import tempfile
from pathlib import Path

bundle = sys.argv[1]
sys.path.insert(0, bundle)

try:
    import django  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("Django is importable next to the bundle: it must not be inside")

from PIL import Image  # noqa: E402  (from the bundle)

from imagevariants.edge import handler  # noqa: E402
from imagevariants.edge.errors import SourceMissing  # noqa: E402
from imagevariants.edge.events import origin_response_event as event  # noqa: E402
from imagevariants.edge.keys import SourceVersion, url_path  # noqa: E402


class FolderStore:
    def __init__(self, root):
        self.root = Path(root)

    def read(self, key, max_bytes):
        path = self.root / key
        if not path.is_file():
            raise SourceMissing(key)
        return path.read_bytes()[: max_bytes + 1]

    def write(self, key, data, content_type, cache_control):
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if len(sys.argv) > 2:  # the entry point Lambda is configured with
    module, _, name = sys.argv[2].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name, None)), f"no entry point {sys.argv[2]}"
document = handler.baked_document()
# A source the edge must refuse to read: under no source prefix.
OUTSIDE = next(key for n in range(100) if not document.allows_source(key := f"private{n}/verify/photo.jpg"))
report: dict[str, object] = {
    "python": sys.version.split()[0],
    "pillow": Image.__version__,
    "presets": sorted(document.presets),
}
with tempfile.TemporaryDirectory() as root:
    store = FolderStore(root)
    picture = io.BytesIO()
    Image.new("RGB", (1600, 1200), "#3366cc").save(picture, "JPEG")
    source = f"{document.sources[0]}verify/photo.jpg"  # under a source prefix: the edge reads nowhere else
    (Path(root) / source).parent.mkdir(parents=True)
    (Path(root) / source).write_bytes(picture.getvalue())

    passed = event("/verify/not-a-variant.jpg")
    assert handler.respond(passed, store, document) is passed["Records"][0]["cf"]["response"], "pass-through"
    for name in sorted(document.presets):
        for output in document.outputs(name):
            key = output.key(source, document.prefix)
            response = handler.respond(event("/" + url_path(key)), store, document)
            assert response["status"] in ("200", "307"), (key, response["status"], response.get("body"))
            data = (Path(root) / key).read_bytes()
            image = Image.open(io.BytesIO(data))
            assert image.width == min(output.spec.width, 1600), (key, image.size)
            if response["status"] == "200":
                assert base64.b64decode(response["body"]) == data
        outside = output.key(OUTSIDE, document.prefix)
        assert handler.respond(event("/" + url_path(outside)), store, document)["status"] == "404", "outside sources"
        assert not (Path(root) / outside).exists(), "outside sources written"
        alias = handler.respond(event("/" + url_path(source.replace(".jpg", f"-{name}.jpg"))), store, document)
        assert alias["status"] == "302", ("alias", alias)
    first = document.outputs(sorted(document.presets)[0])[0]
    right = first.key(source, document.prefix, SourceVersion.of(picture.getvalue()))
    assert handler.respond(event("/" + url_path(right)), store, document)["status"] in ("200", "307"), "version"
    wrong = first.key(source, document.prefix, SourceVersion("0" * 12))
    assert handler.respond(event("/" + url_path(wrong)), store, document)["status"] == "404", "another version"
    assert not (Path(root) / wrong).exists(), "another version written"
    report["variants"] = sum(len(p.current) for p in document.presets.values())
print(json.dumps(report))
