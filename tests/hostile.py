"""Hostile input for the property-based tests: damaged real images, polyglots, bombs, odd file names, broken
multipart bodies and mangled AWS events, as hypothesis strategies; and the markup/SQL/template payloads."""

from __future__ import annotations

import copy
import functools
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests import images

EVENTS = Path(__file__).parent / "events"

# Payloads that must stay text wherever they are shown: each sets a window flag if it ever runs.
MARKUP = (
    "<script>window.__pwned_script=1</script>",
    '"><img src=x onerror="window.__pwned_img=1">',
    "'><svg onload=window.__pwned_svg=1>",
    "'; DROP TABLE images; --",
    "{{7*7}} {% for x in range(3) %}x{% endfor %}",
    '"quoted" it\'s & <b>bold</b>',
)


@functools.cache
def seed_images() -> dict[str, bytes]:
    """One small real file per accepted format, made by Pillow (and pillow-heif)."""
    return {
        "JPEG": images.noisy_jpeg((96, 64)),
        "PNG": images.image_bytes("PNG", (40, 30), mode="RGBA", color=(1, 2, 3, 128)),
        "GIF": images.animated("GIF", size=(32, 24)),
        "WEBP": images.image_bytes("WEBP", (40, 30)),
        "HEIC": images.heic((64, 48)),
        "AVIF": images.avif((64, 48)),
    }


@functools.cache
def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../evil.sh", "#!/bin/sh\necho owned\n")
    return buffer.getvalue()


@functools.cache
def pixel_bomb() -> bytes:
    """A real PNG of 4000x4000 black pixels in about 16 KiB: a bomb for an app whose limit is 4 MP."""
    return images.image_bytes("PNG", (4000, 4000), mode="L", color=0, optimize=False)


def _mutate(data: bytes, ops: list[tuple]) -> bytes:
    out = bytearray(data)
    for op, position, value in ops:
        at = position % (len(out) + 1)
        if op == "flip" and out:
            out[at % len(out)] ^= 1 << (value % 8)
        elif op == "truncate":
            del out[at:]
        elif op == "insert":
            out[at:at] = value
        elif op == "overwrite":
            out[at : at + len(value)] = value
    return bytes(out)


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "flip", "truncate", "insert", "overwrite"]),
        st.integers(0, 2**20),
        st.binary(min_size=1, max_size=12),
    ).map(lambda op: (op[0], op[1], op[2] if op[0] in ("insert", "overwrite") else op[2][0])),
    min_size=1,
    max_size=4,
)


def mutated_images() -> st.SearchStrategy[bytes]:
    """A real image of a random accepted format with bit flips, truncation, inserted or overwritten bytes."""
    return st.builds(_mutate, st.sampled_from(sorted(seed_images())).map(lambda fmt: seed_images()[fmt]), _OPS)


def polyglots() -> st.SearchStrategy[bytes]:
    """An image with HTML or a ZIP archive appended or prepended."""
    extra = st.sampled_from([images.HTML, _zip(), images.SVG, images.PDF])
    image = st.sampled_from(sorted(seed_images())).map(lambda fmt: seed_images()[fmt])
    return st.builds(lambda a, b, first: a + b if first else b + a, image, extra, st.booleans())


def claimed_dimensions() -> st.SearchStrategy[bytes]:
    """A 1x1 PNG whose header claims zero, huge or overflowing dimensions."""
    side = st.sampled_from([0, 1, 2, 4096, 65_535, 100_000, 2**31 - 1, 2**32 - 1])
    return st.builds(images.png_claiming_size, side, side)


def hostile_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_images(),
        mutated_images(),
        polyglots(),
        claimed_dimensions(),
        st.binary(max_size=256),
        st.sampled_from([b"", images.SVG, images.HTML, images.PDF, images.TEXT, _zip(), pixel_bomb()]),
    )


def hostile_filenames() -> st.SearchStrategy[str]:
    """Over-long, NUL-bearing, right-to-left-override, traversal and markup file names."""
    parts = st.sampled_from(
        ["../", "..\\", "/etc/passwd", "C:\\Windows\\", "\x00", "\u202e", "gpj.exe", "%2e%2e%2f", "~", "\r\n"]
        + list(MARKUP)
    )
    pieces = st.lists(st.one_of(parts, st.text(max_size=20)), max_size=6).map("".join)
    return st.one_of(pieces, st.text(min_size=200, max_size=600), pieces.map(lambda name: name + ".jpg"))


def content_types() -> st.SearchStrategy[str | None]:
    """What a client might claim a file part is: right, wrong, nonsense or nothing."""
    return st.one_of(
        st.none(),
        st.sampled_from(["image/jpeg", "text/html", "application/zip", "image/svg+xml", "", "x/y; a=b"]),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30),
    )


def _part(name: str | None, filename: str | None, content_type: str | None, body: bytes) -> bytes:
    disposition = "Content-Disposition: form-data" + (f'; name="{name}"' if name is not None else "")
    if filename is not None:
        disposition += f'; filename="{filename}"'
    headers = [disposition] + ([f"Content-Type: {content_type}"] if content_type is not None else [])
    return "\r\n".join(headers).encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body


@st.composite
def multipart_bodies(draw) -> tuple[str, bytes]:
    """(Content-Type header, body): well-formed parts in odd combinations, then maybe damaged bytes."""
    boundary = draw(st.sampled_from(["XyZ", "a" * 70, "--", "b'\"q"]))
    parts = draw(
        st.lists(
            st.builds(
                _part,
                st.sampled_from(["file", "file", "files", "", None, "csrf_token"]),
                st.one_of(st.none(), st.just(""), hostile_filenames()),
                content_types(),
                st.one_of(st.sampled_from(list(seed_images().values())), hostile_bytes()),
            ),
            max_size=3,
        )
    )
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    body += draw(st.sampled_from([f"--{boundary}--\r\n".encode(), b"", b"--", f"--{boundary}".encode()]))
    body = _mutate(body, draw(st.one_of(st.just([]), _OPS)))
    header = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/mixed; boundary=XyZ",
                "application/x-www-form-urlencoded",
                "application/json",
                "text/plain",
                "",
            ]
        )
    )
    return header, body


def _sample_events() -> list[dict[str, Any]]:
    events = [json.loads(path.read_text()) for path in sorted(EVENTS.glob("*.json"))]
    job_due = {"detail-type": "Image Job Due", "detail": {"image_id": 3, "job": "thumbnail", "bucket": "b"}}
    return [*events, job_due]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
INTERESTING = st.one_of(
    JSON_VALUES,
    st.sampled_from([2**63, 2**64, -1, 0, 1.5, "1", "", "thumbnail", "caption", "../x", "uploads/a.jpg", [], {}]),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document (dict keys and list indexes)."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    found = []
    for step, child in children:
        found.append((*prefix, step))
        found.extend(_paths(child, (*prefix, step)))
    return found


def _changed(event: Any, path: tuple, value: Any, delete: bool) -> Any:
    """A copy of `event` with what lies at `path` replaced by `value`, or deleted."""
    event = copy.deepcopy(event)
    node = event
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return event


def mangled_events() -> st.SearchStrategy[Any]:
    """A real EventBridge, S3 or job event with one or two values replaced or deleted, or arbitrary JSON."""

    def mangle(event: Any) -> st.SearchStrategy[Any]:
        one = st.builds(functools.partial(_changed, event), st.sampled_from(_paths(event)), INTERESTING, st.booleans())
        return st.one_of(one, one.flatmap(mangle_once))

    def mangle_once(event: Any) -> st.SearchStrategy[Any]:
        paths = _paths(event)
        if not paths:
            return st.just(event)
        return st.builds(functools.partial(_changed, event), st.sampled_from(paths), INTERESTING, st.booleans())

    return st.one_of(st.sampled_from(_sample_events()).flatmap(mangle), JSON_VALUES)
