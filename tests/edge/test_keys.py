"""The key scheme: one implementation shared by the tags, the local edge and Lambda."""

from urllib.parse import quote

import pytest

from imagevariants.edge.errors import BadKey
from imagevariants.edge.keys import SeedAlias, build_key, decode_uri, parse_key, parse_seed_alias, url_path
from imagevariants.edge.presets import Document
from imagevariants.edge.spec import Spec

NAMES = [
    "images/test.jpg",
    "images/my photo-2024.jpg",
    "uploads/été/Ünïcødé café.png",
    "a.b.c.d.jpeg",
    "deep/er/path/with-many-hyphens--x.webp",
    "archive.tar.gz.jpg",
]


@pytest.mark.parametrize("source_key", NAMES)
@pytest.mark.parametrize("fmt", [None, "webp", "avif", "jpeg"])
def test_url_path_decodes_back_to_the_source_and_preset(source_key, fmt):
    document = Document.build({"md": [Spec(250, format=fmt)]})
    output = document.outputs("md")[0]
    key = output.key(source_key, document.prefix)
    uri = "/" + url_path(key)
    assert " " not in uri and all(ord(c) < 128 for c in uri)
    decoded = decode_uri(uri)
    assert decoded == key
    spec, recovered = document.resolve(parse_key(decoded, document.prefix))
    assert recovered == source_key
    assert spec == output.spec


def test_recommended_form():
    assert build_key("images/test.jpg", "md", "3fa1c2d9", "webp", "_v/") == "_v/md.3fa1c2d9/images/test.jpg.webp"
    assert build_key("images/test.jpg", "md", "3fa1c2d9", None, "_v/") == "_v/md.3fa1c2d9/images/test.jpg"
    assert build_key("images/test.jpg", "md", "3fa1c2d9", "jpeg", "_v/") == "_v/md.3fa1c2d9/images/test.jpg.jpg"


def test_names_of_255_bytes_are_keys():
    assert decode_uri("/images/" + "a" * 251 + ".jpg") == "images/" + "a" * 251 + ".jpg"
    assert decode_uri("/images/" + "%C3%A9" * 127 + "a") == "images/" + "é" * 127 + "a"


def test_the_key_limit_is_1024_bytes_of_utf_8_not_characters():
    """S3 limits a key to 1,024 bytes of UTF-8: a key of fewer characters but more bytes could never be stored."""
    at_limit = "/".join(["a" * 200] * 4 + ["a" * 220])
    assert len(at_limit.encode()) == 1024
    assert decode_uri("/" + at_limit) == at_limit
    with pytest.raises(BadKey, match="over-long"):
        decode_uri("/" + at_limit + "a")
    two_bytes_at_limit = "/".join(["é" * 127] * 4 + ["éé"])  # 514 characters, 1,024 bytes
    assert len(two_bytes_at_limit.encode()) == 1024
    assert decode_uri("/" + quote(two_bytes_at_limit, safe="/")) == two_bytes_at_limit
    over = "/".join(["é" * 127] * 5)  # every segment 254 bytes: only the key as a whole is too long
    assert len(over) < 1024 < len(over.encode())
    with pytest.raises(BadKey, match="over-long"):
        decode_uri("/" + quote(over, safe="/"))


def test_decoded_exactly_once():
    # %2520 is an encoded "%20": once decoded it is the three characters "%20", never a space.
    assert decode_uri("/images/a%2520b.jpg") == "images/a%20b.jpg"
    assert decode_uri("/images/a%20b.jpg") == "images/a b.jpg"


@pytest.mark.parametrize(
    "uri",
    [
        "/images/../secret.jpg",
        "/_v/md.3fa1c2d9/../../etc/passwd",
        "/images/%2e%2e/x.jpg",
        "/images%2Fx.jpg",
        "/images%2fx.jpg",
        "/images/a%00b.jpg",
        "/images/a%1Fb.jpg",
        "/images/a%7Fb.jpg",  # DEL is a control character too
        "/images/a\x7fb.jpg",
        "/images/%ff%fe.jpg",
        "/" + "a" * 1100,
        "/images/" + "a" * 256,  # a name no file system stores
        "/images/" + "%C3%A9" * 128,  # 128 characters, 256 bytes
        "/images//x.jpg",
        "/images\\x.jpg",
        "images/no-leading-slash.jpg",
        "/",
    ],
)
def test_hostile_uris_are_refused(uri):
    with pytest.raises(BadKey):
        decode_uri(uri)


@pytest.mark.parametrize(
    "uri, reason",
    [
        ("images/no-leading-slash.jpg", "URI does not start with a slash"),
        ("/images%2Fx.jpg", "percent-encoded slash in URI"),
        ("/images%5cx.jpg", "percent-encoded slash in URI"),
        ("/images/%ff%fe.jpg", "URI is not UTF-8"),
        ("/", "empty or over-long key"),
        ("/images/a%7Fb.jpg", "control character in key"),
        ("//images/x.jpg", "empty path segment or backslash in key"),  # a key that begins with a slash
        ("/images//x.jpg", "empty path segment or backslash in key"),
        ("/images\\x.jpg", "empty path segment or backslash in key"),
        ("/images/./x.jpg", "dot segment in key"),
        ("/images/../x.jpg", "dot segment in key"),
        ("/images/" + "a" * 256, "a path segment is over 255 bytes"),
    ],
)
def test_each_hostile_uri_is_refused_by_the_check_that_names_it(uri, reason):
    """The reason is what the edge logs: it must name the check that fired, so each check is known to hold."""
    with pytest.raises(BadKey) as refused:
        decode_uri(uri)
    assert str(refused.value) == reason


def test_keys_that_are_not_variants():
    assert parse_key("images/test.jpg", "_v/") is None
    assert parse_key("_v/md/images/test.jpg", "_v/") is None  # no fingerprint
    assert parse_key("_v/md.XYZ/images/test.jpg", "_v/") is None  # not hex
    assert parse_key("_v/MD.3fa1c2d9/images/test.jpg", "_v/") is None  # not a preset slug
    assert parse_key("_v/md.3fa1c2d9/", "_v/") is None  # no source
    parsed = parse_key("_v/md.3fa1c2d9/images/test.jpg", "_v/")
    assert (parsed.preset, parsed.fingerprint, parsed.rest) == ("md", "3fa1c2d9", "images/test.jpg")


def test_converted_key_must_carry_its_extension():
    document = Document.build({"md": [Spec(250, format="webp")]})
    fp = document.presets["md"].current[0]
    assert document.resolve(parse_key(f"_v/md.{fp}/images/test.jpg", "_v/")) is None
    assert document.resolve(parse_key(f"_v/md.{fp}/.webp", "_v/")) is None
    assert document.resolve(parse_key(f"_v/md.{fp}/images/test.jpg.webp", "_v/"))[1] == "images/test.jpg"


def test_seed_alias():
    names = frozenset({"sm", "md", "lg", "xl"})
    alias = parse_seed_alias("images/test-sm.png", names)
    assert (alias.preset, alias.source_key) == ("sm", "images/test.png")
    assert parse_seed_alias("test-xl.jpg", names).source_key == "test.jpg"
    assert parse_seed_alias("images/my-photo-md.tar.jpg", names) is None  # stem "my-photo-md.tar" ends in "tar"
    # The article's bug: my-photo.png is a missing original, not base "my" in preset "photo".
    assert parse_seed_alias("images/my-photo.png", names) is None
    assert parse_seed_alias("images/-sm.png", names) is None
    assert parse_seed_alias("images/test-sm", names) is None
    assert parse_seed_alias("images/test-sm.", names) is None  # no extension
    assert parse_seed_alias("images/.png", names) is None  # no stem
    # The preset is what follows the last hyphen: hyphens in the name stay in the source.
    assert parse_seed_alias("images/my-best-photo-lg.jpg", names) == SeedAlias("lg", "images/my-best-photo.jpg")
