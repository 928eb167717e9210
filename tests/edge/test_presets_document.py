"""The presets document baked into the edge: build, validate, fingerprints."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagevariants.edge.errors import DocumentError
from imagevariants.edge.keys import parse_key
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import PIPELINE_VERSION, Spec

ROOT = Path(__file__).resolve().parents[2]


def test_fingerprint_covers_every_output_parameter():
    base = Spec(250, None, "contain", 80, None, "#ffffff")
    variants = [
        Spec(251),
        Spec(250, 100, "contain"),
        Spec(250, 100, "cover"),
        Spec(250, quality=81),
        Spec(250, format="webp"),
        Spec(250, background="#000000"),
    ]
    fingerprints = {base.fingerprint, *(v.fingerprint for v in variants)}
    assert len(fingerprints) == 1 + len(variants)
    assert Spec(250).fingerprint == base.fingerprint


def test_fingerprint_is_stable_across_processes_and_hash_seeds():
    code = "from imagevariants.edge.spec import Spec; print(Spec(250, 200, 'cover', 75, 'webp').fingerprint)"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("0", "1", "12345")
    }
    assert seen == {Spec(250, 200, "cover", 75, "webp").fingerprint}


def test_round_trip_and_canonical_bytes():
    document = Document.build({"md": [Spec(250), Spec(250, format="webp")], "sm": [Spec(100)]})
    again = Document.from_json(document.to_json())
    assert again == document
    assert again.to_json() == document.to_json()
    assert again.sha256 == document.sha256


def test_earlier_revisions_stay_served_and_removed_presets_go():
    old = Document.build({"md": [Spec(250)], "gone": [Spec(10)]})
    new = Document.build(
        {"md": [Spec(300)]},
        {name: list(p.revisions.values()) for name, p in old.presets.items()},
    )
    assert set(new.presets["md"].revisions) == {Spec(250).fingerprint, Spec(300).fingerprint}
    assert new.presets["md"].current == (Spec(300).fingerprint,)
    assert "gone" not in new.presets


def _earlier_document() -> dict:
    """A document as an earlier release stored it: pipeline "1", revisions without their own pipeline field."""
    fields = {"width": 250, "height": None, "fit": "contain", "quality": 80, "format": "webp", "background": "#ffffff"}
    payload = json.dumps({"pipeline": "1", **fields}, sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(payload.encode()).hexdigest()[:8]
    data = json.loads(Document.build({"md": [Spec(250)]}).to_json())
    data.update(pipeline="1", presets={"md": {"current": [fingerprint], "revisions": {fingerprint: fields}}})
    return data


def test_a_new_pipeline_yields_new_urls_and_keeps_serving_the_old_ones():
    assert PIPELINE_VERSION != "1"
    earlier = Document.from_dict(_earlier_document())  # stored documents of earlier releases still load
    (old_fp,) = earlier.presets["md"].current
    old_spec = earlier.presets["md"].revisions[old_fp]
    assert old_spec.pipeline == "1" and old_spec.fingerprint == old_fp
    # The same preset, deployed again by this release: a new fingerprint, and the old one still served.
    new = Document.build({"md": [Spec(250, format="webp")]}, {"md": [old_spec]})
    (new_fp,) = new.presets["md"].current
    assert new_fp != old_fp and set(new.presets["md"].revisions) == {old_fp, new_fp}
    old_key = earlier.outputs("md")[0].key("images/a.jpg", "_v/")
    assert new.resolve(parse_key(old_key, "_v/")) == (old_spec, "images/a.jpg")
    assert Document.from_json(new.to_json()) == new  # each revision now records its own pipeline


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(schema=99), "unsupported schema"),
        (lambda d: d.update(pipeline=7), "pipeline"),
        (lambda d: next(iter(d["presets"]["md"]["revisions"].values())).update(pipeline="x"), "pipeline"),
        (lambda d: d.update(prefix="../"), "prefix"),
        (lambda d: d.update(prefix="_v"), "prefix"),
        (lambda d: d["limits"].update(max_source_pixels=-1), "limits.max_source_pixels"),
        (lambda d: d["limits"].update(bogus=1), "limits.bogus"),
        (lambda d: d["presets"].update({"Bad.Name": d["presets"]["md"]}), "Bad.Name"),
        (lambda d: d["presets"]["md"].update(current=["00000000"]), "presets.md.current"),
        (lambda d: next(iter(d["presets"]["md"]["revisions"].values())).update(width=99), "fingerprint"),
        (lambda d: next(iter(d["presets"]["md"]["revisions"].values())).update(width=0), "width"),
        (lambda d: next(iter(d["presets"]["md"]["revisions"].values())).update(fit="stretch"), "fit"),
        (lambda d: next(iter(d["presets"]["md"]["revisions"].values())).update(extra=1), "unknown revision field"),
        (lambda d: d["cache_control"].update(variant=5), "cache_control"),
    ],
)
def test_invalid_documents_name_the_field(mutate, message):
    data = json.loads(Document.build({"md": [Spec(250)]}).to_json())
    mutate(data)
    with pytest.raises(DocumentError, match=message.replace(".", r"\.")):
        Document.from_dict(data)


def test_not_json():
    with pytest.raises(DocumentError, match="not JSON"):
        Document.from_json(b"{nope")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 0}, "width"),
        ({"width": 9000}, "width"),
        ({"width": 10, "height": 0}, "height"),
        ({"width": 10, "fit": "cover"}, "cover"),
        ({"width": 10, "quality": 101}, "quality"),
        ({"width": 10, "format": "bmp"}, "format"),
        ({"width": 10, "background": "white"}, "background"),
        ({"width": "10"}, "width"),
    ],
)
def test_spec_validation(kwargs, message):
    with pytest.raises(DocumentError, match=message):
        Spec(**kwargs)


def test_the_reference_example_is_a_valid_document():
    text = (ROOT / "docs" / "reference" / "presets-document.md").read_text()
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    document = Document.from_json(example)
    assert document.pipeline == PIPELINE_VERSION  # the example follows the pipeline version
    assert {spec.pipeline for spec in document.presets["md"].revisions.values()} == {PIPELINE_VERSION, "6"}
