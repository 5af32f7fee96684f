"""Reading an image file as converters store it: the original bytes, checked to decode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpbench.errors import BadSourceFile
from hpbench.format import IMAGE_FORMATS

_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def image_format(data: bytes) -> str | None:
    for name, magic in IMAGE_FORMATS.items():
        if data.startswith(magic):
            return name
    return None


def read_image_file(path: Path) -> tuple[bytes, str, int, int]:
    """(bytes, format, height, width) of a JPEG or PNG file that decodes completely."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BadSourceFile(path, f"cannot be read ({err.strerror or err})") from None
    return check_image_bytes(data, path)


def check_image_bytes(data: bytes, path) -> tuple[bytes, str, int, int]:
    fmt = image_format(data)
    if fmt is None:
        raise BadSourceFile(path, "is not a JPEG or PNG image (unrecognised file header)")
    if fmt == "jpeg" and _JPEG_END not in data[-1024:]:
        raise BadSourceFile(path, "is a truncated JPEG (no end-of-image marker)")
    if fmt == "png" and not data.rstrip(b"\0").endswith(_PNG_END):
        raise BadSourceFile(path, "is a truncated PNG (no IEND chunk)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadSourceFile(path, f"cannot be decoded as a {fmt.upper()} image (corrupt data)")
    return data, fmt, int(image.shape[0]), int(image.shape[1])
