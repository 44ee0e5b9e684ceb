"""What a file really is, from its first bytes — never from its name or the client's Content-Type."""

from __future__ import annotations

import re

import filetype

HEAD_BYTES = 8192
# Markup a browser could render or run: refused even when it claims to be text.
MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|math|style|meta|link)\b", re.I)
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "text/plain": ".txt",
}


def sniff(head: bytes) -> str:
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if MARKUP.search(head):
        return "image/svg+xml" if re.search(rb"<\s*svg\b", head, re.I) else "text/html"
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a multi-byte character cut at the end of the sample
            return "application/octet-stream"
    return "text/plain"


def kind_of(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime == "application/zip":
        return "archive"
    if mime in ("application/pdf", "text/plain"):
        return "document"
    return "other"
