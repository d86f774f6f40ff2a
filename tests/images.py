"""Real image files for the attachment tests, made by Pillow (a test-only dependency): each call with another
``seed`` gives other bytes, as two photos from a phone would be."""

from __future__ import annotations

import io

from PIL import Image

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def photo(content_type: str = "image/jpeg", seed: int = 0, size: tuple[int, int] = (32, 24)) -> bytes:
    """A small image of ``content_type`` whose pixels depend on ``seed``."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13 + 80) % 256))
    for x in range(size[0]):
        image.putpixel((x, (x + seed) % size[1]), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, FORMATS[content_type])
    return out.getvalue()
