"""Report pages: one local plotly.js per folder (written once, never fetched), or one
self-contained file; figures travel compactly (numeric arrays as float32 base64, gaps kept)."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from flyer.core import pages


def test_pages_share_one_script_or_inline_it(tmp_path: Path) -> None:
    fig = go.Figure(go.Scatter(x=[dt.date(2024, 1, d) for d in range(1, 21)], y=list(range(20))))
    page = pages.document("t <1>", pages.figure_html(fig))
    assert "<title>t &lt;1&gt;</title>" in page and page.count(pages.script_tag()) == 1 and "cdn" not in page
    a, b = pages.write(page, tmp_path / "a.html"), pages.write(page, tmp_path / "b.html")
    js = tmp_path / pages.script_name()
    assert a.read_text() == page and b.exists() and js.stat().st_size > 3_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.html", "b.html", js.name])  # no temp files left
    mtime = js.stat().st_mtime_ns
    pages.ensure_script(tmp_path)
    assert js.stat().st_mtime_ns == mtime  # written once
    one = pages.write(page, tmp_path / "single" / "c.html", self_contained=True).read_text()
    assert pages.script_tag() not in one and len(one) > 3_000_000
    assert [p.name for p in (tmp_path / "single").iterdir()] == ["c.html"]


def test_compact_figures_keep_gaps_dates_and_text() -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    y = [float(i) / 3 for i in range(30)]
    y[5] = None  # type: ignore[call-overload]
    fig = go.Figure([go.Scatter(x=days, y=y, text=[str(i) for i in range(30)]),
                     go.Heatmap(z=[[0.1] * 20, [None] * 20], x=list(range(20)))])
    small = pages.compact(fig)
    sy = np.asarray(small.data[0].y)
    assert sy.dtype == np.float32 and math.isnan(sy[5]) and abs(sy[4] - 4 / 3) < 1e-6
    assert list(small.data[0].x) == days and list(small.data[0].text)[:2] == ["0", "1"]
    assert np.asarray(small.data[1].z).shape == (2, 20)
    assert fig.data[0].y[5] is None  # the caller's figure is untouched
    assert len(pages.figure_html(fig)) < len(fig.to_html(full_html=False, include_plotlyjs=False))
