"""QR rendering: every PNG decodes back to the exact payload; full tokens fit version 15-M."""

import io
import random
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image

from app.adapters.qr_render import QrRenderer, UnrenderablePayload

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
renderer = QrRenderer()


def decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1
    assert results[0].extra["ECLevel"] == "M"
    return results[0].text


@pytest.mark.parametrize("seed", range(40))
def test_every_png_decodes_to_the_exact_payload(seed):
    rng = random.Random(seed)
    payload = "LC1:" + "".join(rng.choice(BASE45) for _ in range(rng.randint(20, 596)))
    png = renderer.png(payload)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode(png) == payload


def test_600_characters_fit_version_15_and_601_do_not():
    rng = random.Random(1)
    payload = "LC1:" + "".join(rng.choice(BASE45) for _ in range(596))
    assert renderer.version(payload) == 15
    assert renderer.version(payload + "A") == 16


def test_png_geometry():
    payload = "LC1:" + "A" * 300
    image = Image.open(io.BytesIO(renderer.png(payload, scale=4, border=4)))
    side = renderer.version(payload) * 4 + 17
    assert image.size == ((side + 8) * 4, (side + 8) * 4)
    assert image.mode == "1"


@pytest.mark.parametrize(("scale", "border"), [(1, 0), (3, 2), (4, 4)])
def test_every_pixel_is_its_module(scale, border):
    """The PNG rows are built in bulk and filtered: each pixel must still be its module."""
    from app.adapters.qr_render import _modules

    payload = "LC1:" + "".join(random.Random(scale).choice(BASE45) for _ in range(400))
    side, modules = _modules(payload)
    image = Image.open(io.BytesIO(renderer.png(payload, scale=scale, border=border))).convert("L")
    width = (side + 2 * border) * scale
    assert image.size == (width, width)
    pixels = image.load()
    for y in range(width):
        for x in range(width):
            row, column = y // scale - border, x // scale - border
            inside = 0 <= row < side and 0 <= column < side
            expected = modules[row * side + column] if inside else 0xFF
            assert pixels[x, y] == expected, (x, y)


def test_svg_is_well_formed_and_scales():
    svg = renderer.svg("LC1:HELLO WORLD")
    root = ET.fromstring(svg)  # noqa: S314 - our own renderer output
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 29 29"
    assert root.get("width") == "116"


@pytest.mark.parametrize("payload", ["", "lc1:lowercase", "LC1:中文", "LC1:\x00", "A" * 1853])
def test_unrenderable_payloads(payload):
    with pytest.raises(UnrenderablePayload):
        renderer.png(payload)


def test_automatic_mask_choice_decodes_too():
    from app.adapters.qr_render import render_png

    payload = "LC1:" + "6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA.A5:S9MKN02/"
    assert decode(render_png(payload, data_mask=None)) == payload
