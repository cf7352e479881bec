"""The console's files, read once at server start and served from memory with an ETag."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Everything the page needs comes from this origin; no inline script or style, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every servable file under `directory`, keyed by its relative POSIX path.

    Only files with a known content type are included, so a stray editor backup or a dotfile
    is never served; the lookup is by exact key, so `..` in a URL cannot escape the folder.
    """
    assets: dict[str, Asset] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or content_type is None or any(p.startswith(".") for p in relative.parts):
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[relative.as_posix()] = Asset(body, content_type, etag)
    return assets
