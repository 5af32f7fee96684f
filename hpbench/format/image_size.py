"""The size an encoded image declares in its header (JPEG frame header, PNG IHDR), read before
anything decodes it, and the largest image hpbench stores or decodes.

A 0.8 MB PNG can declare 30000 × 30000 pixels (2.7 GB decoded): a decode bomb. ``prepare`` refuses
such a source image, ``verify`` a stored size beyond the limits, and reading a prepared file refuses
an encoded image whose header declares one, before decoding.
"""

from __future__ import annotations

MAX_IMAGE_SIDE = 16384  # pixels; every dataset hpbench converts stays far below (MPII: 1920)
MAX_IMAGE_PIXELS = 64 * 2**20  # 8192 × 8192: 192 MB decoded as BGR

_START_OF_FRAME = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(height, width) from a JPEG's frame header (SOFn), or None where there is none."""
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        length = int.from_bytes(data[offset + 2:offset + 4], "big")
        if marker in _START_OF_FRAME:
            if offset + 9 > len(data):
                return None
            height, width = (int.from_bytes(data[offset + 5 + k:offset + 7 + k], "big") for k in (0, 2))
            return (height, width) if height and width else None
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a valid JPEG
            return None
        offset += 2 + length
    return None


def png_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(height, width) from a PNG's IHDR chunk (the first, by the standard), or None."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (height, width) if height and width else None


def declared_size(data: bytes | memoryview, fmt: str) -> tuple[int, int] | None:
    return jpeg_size(data) if fmt == "jpeg" else png_size(data) if fmt == "png" else None


def size_problem(height: int, width: int) -> str | None:
    """Why an image of this size is not stored or decoded, or None."""
    if height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE or height * width > MAX_IMAGE_PIXELS:
        return (f"declares {width} × {height} pixels, beyond hpbench's limits ({MAX_IMAGE_SIDE:,} per side, "
                f"{MAX_IMAGE_PIXELS:,} in all): a decode bomb or damage")
    return None
