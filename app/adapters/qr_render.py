"""QR rendering of presentation payloads: PNG and SVG, error level M, alphanumeric data.

Chosen by measurement on this machine (version-15 code, 4 px per module, 4-module quiet zone):
`qrcode` 41 ms per PNG (24/s) and `segno` 35 ms (29/s), both spending their time in pure-Python
mask evaluation; zxing-cpp's encoder (C++) takes 1.9 ms with automatic mask selection and
0.3 ms with a fixed mask. We use zxing-cpp with a fixed data mask and write the 1-bit PNG
ourselves with zlib (0.8-1.1 ms), about 0.75k-1k PNG/s per core. A fixed mask is allowed by
ISO/IEC 18004 (the decoder reads it from the format information); the automatic choice only
lowers a readability penalty score, and every code we render is decoded back in the tests.
Rendering is CPU work: call it through `asyncio.to_thread` from async code.
"""

from __future__ import annotations

import struct
import zlib

import zxingcpp

# The 45 characters of QR alphanumeric mode; base45 and the "LC1:" prefix use only these.
ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
MAX_PAYLOAD_CHARS = 1852  # alphanumeric capacity of version 40 at level M
# Mask 4 ((i/2 + j/3) mod 2) breaks up the long runs that base45 text tends to produce.
DATA_MASK = 4
_DARK_TO_BIT = bytes.maketrans(b"\x00\xff", b"01")  # 1-bit greyscale PNG: 0 is black


class UnrenderablePayload(ValueError):
    """The text cannot be a QR code in alphanumeric mode (bad characters or too long)."""


def _check(payload: str) -> None:
    if not payload or len(payload) > MAX_PAYLOAD_CHARS:
        raise UnrenderablePayload("payload length out of range")
    if not ALPHANUMERIC.issuperset(payload):
        raise UnrenderablePayload("payload has characters outside QR alphanumeric mode")


def _modules(payload: str) -> tuple[int, bytes]:
    """(side, row-major modules: 0x00 dark, 0xff light), without quiet zone."""
    _check(payload)
    symbol = zxingcpp.create_barcode(
        payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M", dataMask=DATA_MASK
    )
    image = memoryview(symbol.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    side = int(image.nbytes**0.5)  # square, one byte per module
    return side, image.tobytes()


def qr_version(payload: str) -> int:
    side, _ = _modules(payload)
    return (side - 17) // 4


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def render_png(payload: str, *, scale: int = 4, border: int = 4) -> bytes:
    side, modules = _modules(payload)
    width = (side + 2 * border) * scale
    margin = "1" * (border * scale)
    padding = "1" * (-width % 8)
    light_row = b"\x00" + b"\xff" * ((width + 7) // 8)
    rows = [light_row] * (border * scale)
    for y in range(side):
        bits = modules[y * side : (y + 1) * side].translate(_DARK_TO_BIT).decode("ascii")
        line = margin + "".join(bit * scale for bit in bits) + margin + padding
        row = b"\x00" + int(line, 2).to_bytes(len(line) // 8, "big")  # filter byte 0: none
        rows.extend([row] * scale)
    rows.extend([light_row] * (border * scale))
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _png_chunk(b"IEND", b"")
    )


def render_svg(payload: str, *, scale: int = 4, border: int = 4) -> str:
    """One path of horizontal runs of dark modules: small, and crisp at any size."""
    side, modules = _modules(payload)
    size = side + 2 * border
    runs = []
    for y in range(side):
        row = modules[y * side : (y + 1) * side]
        x = 0
        while x < side:
            if row[x] == 0:
                start = x
                while x < side and row[x] == 0:
                    x += 1
                runs.append(f"M{start + border} {y + border}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    pixels = size * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )


class QrRenderer:
    """The renderer adapter handed to services (app.ports.QrRenderer)."""

    def png(self, payload: str, *, scale: int = 4, border: int = 4) -> bytes:
        return render_png(payload, scale=scale, border=border)

    def svg(self, payload: str, *, scale: int = 4, border: int = 4) -> str:
        return render_svg(payload, scale=scale, border=border)

    def version(self, payload: str) -> int:
        return qr_version(payload)
