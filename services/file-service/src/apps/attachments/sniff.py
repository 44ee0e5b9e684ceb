"""What a file really is, from its first bytes — never from its name or the client's Content-Type."""

from __future__ import annotations

import re

import filetype

HEAD_BYTES = 8192
# Markup a browser could render or run: refused even when it claims to be text.
MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|math|style|meta|link)\b", re.I)
# Anything a browser's HTML parser would take as the start of a tag or markup declaration: `<`
# followed by a letter, `!` or `?`, or `</` and a letter. A text upload containing one anywhere is
# HTML as far as we are concerned (`<img src=x onerror=...>` needs no <html> or <script>).
TAG_START = re.compile(rb"<(?:[A-Za-z!?]|/[A-Za-z])")
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
    if TAG_START.search(head):
        return "text/html"
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


def text_with_markup(chunks) -> bool:
    """Whether any chunk of a text file holds a tag start; a match may span two chunks."""
    tail = b""
    for chunk in chunks:
        if TAG_START.search(tail + chunk):
            return True
        tail = chunk[-2:]
    return False


def sniff_whole(head: bytes, chunks) -> str:
    """`sniff(head)`, and for text the whole content read for markup, not only its head."""
    mime = sniff(head)
    if mime == "text/plain" and text_with_markup(chunks):
        return "text/html"
    return mime
