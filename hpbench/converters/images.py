"""Reading an image file as converters store it: the original bytes, checked to decode completely.

libjpeg decodes a damaged JPEG anyway (grey or smeared blocks) and only says so on the process's
standard error ("Corrupt JPEG data: …", "Premature end of JPEG file"); the decode here listens to
that stream, so such a file is bad input, not a silently stored corrupt image. Bytes after the
end-of-image marker (camera trailers) are not damage: libjpeg stops at the marker.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from hpbench.errors import BadSourceFile
from hpbench.format import IMAGE_FORMATS
from hpbench.format.image_size import declared_size, jpeg_size, size_problem

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
    if fmt == "png" and not data.rstrip(b"\0").endswith(_PNG_END):
        raise BadSourceFile(path, "is a truncated PNG (no IEND chunk)")
    declared = declared_size(data, fmt)
    if declared is not None and size_problem(*declared):
        raise BadSourceFile(path, size_problem(*declared))
    # A JPEG is decoded at 1/8 scale: libjpeg still reads every entropy-coded byte (and reports
    # damage) but skips most of the inverse DCT, 3.4× faster; its size comes from the frame header.
    flags = cv2.IMREAD_REDUCED_GRAYSCALE_8 if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    with _libjpeg_messages() as messages:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    size = jpeg_size(data) if fmt == "jpeg" else (image.shape[:2] if image is not None else None)
    if image is None or image.size == 0 or size is None:
        if fmt == "jpeg" and _JPEG_END not in data:
            raise BadSourceFile(path, "is a truncated JPEG (no end-of-image marker)")
        raise BadSourceFile(path, f"cannot be decoded as a {fmt.upper()} image (corrupt data)")
    damage = [line for line in messages() if line.startswith(_JPEG_DAMAGE)] if fmt == "jpeg" else []
    if damage:
        what = "truncated" if "Premature end" in damage[0] else "corrupt"
        raise BadSourceFile(path, f"is a {what} JPEG (libjpeg: {damage[0]})")
    return data, fmt, int(size[0]), int(size[1])


_JPEG_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file", "Invalid JPEG file structure")


@contextmanager
def _libjpeg_messages() -> Iterator:
    """Capture what C code writes to file descriptor 2 inside the block; yields a function that
    returns those lines (to be called after the block)."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lambda: lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines += capture.read().decode("utf-8", "replace").splitlines()
    for line in lines:  # what is not libjpeg's damage report goes on to the real stream
        if not line.startswith(_JPEG_DAMAGE):
            print(line, file=sys.stderr)
