"""QR rendering of presentation payloads: PNG and SVG, error level M, alphanumeric data.

Chosen by measurement on this machine (`python -m app.adapters.qr_render`: a version-15 code,
4 px per module, 4-module quiet zone, one core): `qrcode` takes 41-67 ms per PNG (15-24/s) and
`segno` 35-46 ms (22-29/s), both spending their time in pure-Python encoding and mask
evaluation. zxing-cpp's C++ encoder (already a test dependency) takes about 1.9 ms with
automatic mask selection and 0.3 ms with a fixed mask. With a fixed data mask and the 1-bit PNG
written here (rows built with numpy, repeated pixel rows "up"-filtered to zeros, then zlib), a
PNG costs about 0.3 ms on an AMD EPYC vCPU (0.7 ms with the rows built in Python): ~3,000 PNG/s
per core. A fixed mask is allowed by ISO/IEC 18004 (the decoder reads
it from the format information); the automatic choice only lowers a readability penalty score,
and the tests decode every rendered code back to its payload.
Rendering is CPU work: call it through `asyncio.to_thread` from async code.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import zxingcpp

# The 45 characters of QR alphanumeric mode; base45 and the "LC1:" prefix use only these.
ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
MAX_PAYLOAD_CHARS = 1852  # alphanumeric capacity of version 40 at level M
# Mask 4 ((i/2 + j/3) mod 2) breaks up the long runs that base45 text tends to produce.
DATA_MASK = 4


class UnrenderablePayload(ValueError):
    """The text cannot be a QR code in alphanumeric mode (bad characters or too long)."""


def _check(payload: str) -> None:
    if not payload or len(payload) > MAX_PAYLOAD_CHARS:
        raise UnrenderablePayload("payload length out of range")
    if not ALPHANUMERIC.issuperset(payload):
        raise UnrenderablePayload("payload has characters outside QR alphanumeric mode")


def _modules(payload: str, data_mask: int | None = DATA_MASK) -> tuple[int, bytes]:
    """(side, row-major modules: 0x00 dark, 0xff light), without quiet zone. A data_mask of
    None lets the encoder pick the mask by penalty score (slower)."""
    _check(payload)
    options = {"ec_level": "M"} if data_mask is None else {"ec_level": "M", "dataMask": data_mask}
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, **options)
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


def render_png(payload: str, *, scale: int = 4, border: int = 4, data_mask: int | None = DATA_MASK) -> bytes:
    side, modules = _modules(payload, data_mask)
    grid = np.frombuffer(modules, dtype=np.uint8).reshape(side, side)
    # 1-bit greyscale, 1 light and 0 dark; one module becomes scale x scale pixels.
    light = np.pad(grid == 0xFF, border, constant_values=True)
    pixels = light.repeat(scale, axis=0).repeat(scale, axis=1)
    width = pixels.shape[1]
    rows = np.packbits(pixels, axis=1)
    # Each row starts with its filter byte: 0 (none) for the first pixel row of a module row,
    # 2 ("up": minus the row above, so all zeros) for the rows that repeat it. Vectorised, and
    # the zeros make zlib's work small: ~0.2 ms for a version-15 code instead of ~0.4 ms.
    body = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    first = slice(None, None, scale)
    body[first, 1:] = rows[first]
    repeats = np.ones(rows.shape[0], dtype=bool)
    repeats[first] = False
    body[repeats, 0] = 2
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(body.tobytes(), 6))
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


def measure(seconds: float = 2.0) -> dict[str, float]:
    """PNGs per second on one core for a version-15 payload: the candidates and our renderer.

    Run `python -m app.adapters.qr_render` to repeat the measurement behind the choice above.
    """
    import io
    import random
    import time

    import qrcode  # type: ignore[import-untyped]
    import segno

    rng = random.Random(15)
    payload = "LC1:" + "".join(rng.choice(sorted(ALPHANUMERIC)) for _ in range(590))

    def with_qrcode() -> bytes:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
        code.add_data(payload)
        out = io.BytesIO()
        code.make_image().save(out)
        return out.getvalue()

    def with_segno() -> bytes:
        out = io.BytesIO()
        segno.make_qr(payload, error="m", mode="alphanumeric", boost_error=False).save(out, kind="png", scale=4)
        return out.getvalue()

    rates = {}
    for name, render in (
        ("qrcode (PIL PNG)", with_qrcode),
        ("segno (PNG)", with_segno),
        ("zxing-cpp, automatic mask + zlib PNG", lambda: render_png(payload, data_mask=None)),
        ("zxing-cpp, fixed mask + zlib PNG (ours)", lambda: render_png(payload)),
    ):
        render()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            render()
            count += 1
        rates[name] = count / (time.perf_counter() - started)
    return rates


if __name__ == "__main__":
    for name, rate in measure().items():
        print(f"{name:<42} {rate:8.0f} PNG/s  {1000 / rate:7.2f} ms")
