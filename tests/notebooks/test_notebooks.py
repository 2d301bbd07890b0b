"""The research notebooks run top to bottom on the simulated market (outputs are not committed),
tell the CSI 500 story at their default size, check every claim about a result with an assertion,
and render everywhere: the executed notebook's static HTML (nbconvert, what GitHub's viewer
shows too) holds a picture for every chart."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_without_outputs() -> None:
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_factor_research", "03_models", "04_backtest"]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), f"{path.name} has outputs"


def test_notebooks_teach_with_the_public_api_and_read_only() -> None:
    """Each notebook opens with what it shows and how to read it, explains its results in text
    cells, imports no CLI module and reads the store read-only (it writes only to ingest)."""
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
        text = [c.source for c in book.cells if c.cell_type == "markdown"]
        assert "flyer.commands" not in code and "MarketStore.open(" not in code, path.name
        assert code.count("read_only=False") <= 2 and "data.open_store(HOME)" in code, path.name
        assert "What this notebook shows" in text[0] and len(text) >= 5, path.name
        assert sum("What this means" in t or "How to read" in t for t in text) >= 2, path.name


def test_notebooks_tell_the_csi500_story_and_check_their_claims() -> None:
    """The universe is CSI 500 at every size (the default 800 stocks included), charts carry a
    static copy (``flyer.notebook.enable``), and each notebook asserts what its text claims."""
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in book.cells if c.cell_type == "code")
        assert 'UNIVERSE = "csi500"' in code and '"FLYER_NB_STOCKS", "800"' in code and "if STOCKS" not in code, path.name
        assert "notebook.enable()" in code, path.name
        assert code.count("assert ") >= 4, path.name
    text = "\n".join(c.source for c in nbformat.read(NOTEBOOKS[1], as_version=4).cells)
    assert "because it is momentum" not in text and "**reversal** signal" in text  # ROC5 = Ref($close, 5) / $close


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executed at 300 sim stocks (about 50 CSI 500 members; FLYER_NB_STOCKS overrides): no error,
    every assertion holds, and nbconvert's HTML holds a PNG for every plotly chart."""
    from nbconvert import HTMLExporter

    monkeypatch.setenv("FLYER_NB_HOME", str(tmp_path))
    monkeypatch.setenv("FLYER_NB_STOCKS", os.environ.get("FLYER_NB_STOCKS", "300"))
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    charts = [o["data"] for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert all("image/png" in d for d in charts), path.name
    html, _ = HTMLExporter().from_notebook_node(book)
    pictures = re.findall(r'<img [^>]*src="data:image/png;base64,', html)
    assert len(pictures) == len(charts), (path.name, len(pictures), len(charts))
