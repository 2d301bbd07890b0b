"""HTML pages with plotly figures: one local plotly.js per folder, or one self-contained file.

Every report page (backtest, factors, capacity, compare) is built with ``document`` and written
with ``write``:
  * by default the page loads plotly.js from its own folder (``<script src="plotly-<version>.min.js">``)
    and ``write`` puts that file there once (``ensure_script``: a hard link to plotly's own copy
    where the file system allows, else a copy), so the pages of a folder share one 4.6 MB script
    and a page weighs what its tables and figures weigh;
  * ``write(..., self_contained=True)`` inlines the script: one file that opens anywhere.
Nothing is loaded from the network either way. ``figure_html`` is a figure's ``<div>`` without
any script. Plotly is imported only inside the functions that need it.
"""
from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

#: the style every report page shares (tables right-aligned, first column left)
STYLE = ("body{font-family:sans-serif;margin:24px;max-width:1300px} table{border-collapse:collapse;margin:8px 0}"
         "th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right} th{text-align:left}"
         "table.grid td:first-child{text-align:left} .cols{display:flex;gap:40px;flex-wrap:wrap}"
         ".note{color:#555;max-width:900px}")


def script_name() -> str:
    """``plotly-<plotly.js version>.min.js``: the file a page loads from its own folder."""
    from plotly.offline import get_plotlyjs_version

    return f"plotly-{get_plotlyjs_version()}.min.js"


def _source() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def script_tag() -> str:
    """The ``<script>`` element a page loads plotly.js with (replaced by ``inline``)."""
    return f'<script src="{script_name()}" charset="utf-8"></script>'


def figure_html(fig: Any) -> str:
    """A figure as a ``<div>`` and its drawing script (no plotly.js: the page loads it once);
    numeric x / y / z arrays travel as 32-bit floats in base64 (``compact``), about a third of the
    text of their decimal digits."""
    return str(compact(fig).to_html(full_html=False, include_plotlyjs=False))


def compact(fig: Any) -> Any:
    """A copy of ``fig`` whose numeric x / y / z data are float32 arrays (NaN for missing, drawn
    as a gap like None); text, dates and booleans are left as they are."""
    import numpy as np
    import plotly.graph_objects as go

    out = go.Figure(fig)
    for trace in out.data:
        for key in ("x", "y", "z"):
            if key not in trace or trace[key] is None:
                continue
            try:
                arr = np.asarray(trace[key], dtype=object)
            except ValueError:  # ragged
                continue
            flat = arr.ravel()
            if flat.size < 16 or not all(v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
                                         for v in flat):
                continue
            trace[key] = np.array([np.nan if v is None else v for v in flat], dtype=np.float32).reshape(arr.shape)
    return out


def document(title: str, body: str, style: str = STYLE) -> str:
    """A whole page: ``<head>`` with the title, ``style`` and the plotly.js tag, then ``body``
    (already HTML) under an ``<h1>`` of the title."""
    t = html.escape(title)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{t}</title><style>{style}</style>"
            f"{script_tag()}</head><body><h1>{t}</h1>{body}</body></html>")


def inline(page: str) -> str:
    """``page`` with plotly.js inlined in place of its tag (one self-contained file)."""
    tag = script_tag()
    if tag not in page:
        return page
    script = _source().read_text(encoding="utf-8")
    return page.replace(tag, f'<script type="text/javascript">{script}</script>', 1)


def ensure_script(folder: str | os.PathLike) -> Path:
    """``folder/plotly-<version>.min.js``, created when missing (hard link, else a copy, written
    under a temporary name and renamed so a reader never sees half a file); returns its path."""
    target = Path(folder) / script_name()
    if target.exists() and target.stat().st_size == _source().stat().st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(_source(), tmp)
    except OSError:
        shutil.copyfile(_source(), tmp)
    os.replace(tmp, target)
    return target


def write(page: str, path: str | os.PathLike, *, self_contained: bool = False) -> Path:
    """Write ``page`` to ``path`` (parents created, through a temporary file and a rename) and,
    unless ``self_contained`` (then plotly.js is inlined), plotly.js beside it; returns the
    resolved path."""
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    text = inline(page) if self_contained else page
    if not self_contained and script_tag() in page:
        ensure_script(target.parent)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target
