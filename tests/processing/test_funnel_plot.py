"""The funnel plot's title and subtitle fit the image, however long the input's filter that they state."""

from __future__ import annotations

import numpy as np
from qgis.PyQt.QtGui import QColor, QFontMetricsF, QImage

from crime_mapping_plugin.processing.funnel_plot import (
    HEADER_MARGIN,
    FunnelData,
    draw_funnel_plot,
    header_font,
    header_lines,
)

SUBSET = "\"month\" >= '2024-12-01' AND \"month\" <= '2024-12-01' AND \"crime_group\" IN ('Burglary')"
LONG_TITLE = (
    f"Ward crime rates (the crimes of 'police.uk crimes, 2024-10 to 2024-12 (3 months)' as filtered by the "
    f"layer's filter {SUBSET}), 2024-12: funnel plot"
)


def header_is_clear_of_the_edges(image: QImage, rows: int, margin: int) -> tuple[bool, int]:
    """Return whether no pixel of the first rows is drawn within margin of the left and right edges, and how many
    pixels of those rows are drawn at all (not white)."""
    white = QColor("white").rgb()
    inked = 0
    clear = True
    for y in range(rows):
        for x in range(image.width()):
            if image.pixel(x, y) != white:
                inked += 1
                if x < margin or x >= image.width() - margin:
                    clear = False
    return clear, inked


def _data(title: str) -> FunnelData:
    expected = np.array([5.0, 20.0, 50.0, 120.0])
    lo, hi = np.full(4, 0.5), np.full(4, 2.0)
    return FunnelData(
        expected, [1.0, 1.2, 0.8, 1.1], [None] * 4, list("abcd"), {0.95: (lo, hi), 0.998: (lo / 2, hi * 2)},
        1.0, 1000.0, title, "Adjusted for overdispersion",
    )  # fmt: skip


def test_a_long_title_is_wrapped_within_the_image_and_keeps_every_word():
    width = 1200
    titles, subtitles = header_lines(LONG_TITLE, "Adjusted for overdispersion", width)
    metrics = QFontMetricsF(header_font(18, True))
    assert metrics.horizontalAdvance(LONG_TITLE) > width  # one line would overflow
    assert 2 <= len(titles) <= 3 and subtitles == ["Adjusted for overdispersion"]
    assert all(metrics.horizontalAdvance(line) <= width - 2 * HEADER_MARGIN for line in titles)
    assert " ".join(titles) == LONG_TITLE  # wrapped at spaces, nothing cut


def test_a_title_too_long_for_three_lines_is_cut_with_an_ellipsis():
    titles, _ = header_lines(LONG_TITLE * 4, "", 1200)
    metrics = QFontMetricsF(header_font(18, True))
    assert len(titles) == 3 and titles[-1].endswith("…")
    assert all(metrics.horizontalAdvance(line) <= 1200 - 2 * HEADER_MARGIN for line in titles)
    assert (LONG_TITLE * 4).startswith(" ".join(titles[:2]))


def test_the_drawn_title_stays_inside_the_image(tmp_path):
    path = str(tmp_path / "funnel.png")
    assert draw_funnel_plot(path, _data(LONG_TITLE)) == 4
    image = QImage(path)
    titles, subtitles = header_lines(LONG_TITLE, "Adjusted for overdispersion", image.width())
    rows = int(12 + 1.4 * (18 * len(titles) + 14 * len(subtitles)))
    clear, inked = header_is_clear_of_the_edges(image, rows, HEADER_MARGIN // 2)
    assert clear and inked > 1000  # the title is drawn, and nowhere near the edges
