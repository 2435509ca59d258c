"""What a reader of a rendered PDF needs, checked on the page: the text is there, whole, in
the page box, and no two pieces of text are drawn over each other."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pypdfium2 as pdfium

TOLERANCE = 0.5  # points: glyph boxes of neighbouring runs may touch


def page_texts(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(path)
    return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]


def flat(text: str) -> str:
    """Whitespace (line breaks of wrapped text included) as single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def text_outside_the_page(path: Path) -> list[tuple[int, str]]:
    """Characters whose box is not wholly inside their page: (page, character)."""
    pdf = pdfium.PdfDocument(path)
    out = []
    for n in range(len(pdf)):
        page = pdf[n]
        width, height = page.get_size()
        text = page.get_textpage()
        for i in range(text.count_chars()):
            left, bottom, right, top = text.get_charbox(i)
            if left < 0 or bottom < 0 or right > width or top > height:
                out.append((n + 1, text.get_text_range(i, 1)))
    return out


def overlapping_text(path: Path) -> list[tuple[int, str, str]]:
    """Pairs of text runs drawn over each other: (page, one, other)."""
    pdf = pdfium.PdfDocument(path)
    out = []
    for n in range(len(pdf)):
        text = pdf[n].get_textpage()
        rects = [text.get_rect(i) for i in range(text.count_rects())]
        for a, b in itertools.combinations(rects, 2):
            width = min(a[2], b[2]) - max(a[0], b[0])
            height = min(a[3], b[3]) - max(a[1], b[1])
            if width > TOLERANCE and height > TOLERANCE:
                out.append(
                    (n + 1, text.get_text_bounded(*a).strip(), text.get_text_bounded(*b).strip())
                )
    return out


def assert_readable(path: Path) -> str:
    """Nothing outside the page, nothing on top of other text; returns the flat text."""
    assert text_outside_the_page(path) == []
    assert overlapping_text(path) == []
    return flat(" ".join(page_texts(path)))
