"""The Colab notebooks in colab/: stored without outputs, and each runs top to bottom on CPU.

The run (marked slow) executes every notebook in a fresh kernel of this same Python, in a temporary
working directory, with JAXFORMER_NOTEBOOK_SMOKE=1 (tiny settings) and this suite's environment
(8 simulated CPU devices). Any cell error fails the test. The generated corpus is built once under
the default data dir (~/.cache/jaxformer), as the notebooks do in Colab.
"""

import json
import sys
from pathlib import Path

import pytest

COLAB = Path(__file__).resolve().parents[1] / "colab"
NOTEBOOKS = sorted(COLAB.glob("*.ipynb"))
EXPECTED = ["01_attention.ipynb", "02_train_and_translate.ipynb", "03_attention_maps.ipynb"]


def test_notebooks_are_stored_clean():
    """nbformat v4 with the python3 kernel, no outputs (clean diffs), the SMOKE switch, a Colab-only
    install cell, and jaxformer imported rather than copied."""
    assert [p.name for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3", path.name
        assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# "), path.name
        code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                assert c["outputs"] == [] and c["execution_count"] is None, f"{path.name}: clear the outputs before saving"
        assert 'if "google.colab" in sys.modules:' in code[0] and "pip" in code[0], path.name
        source = "\n".join(code)
        assert 'SMOKE = os.environ.get("JAXFORMER_NOTEBOOK_SMOKE") == "1"' in source, path.name
        assert "import jaxformer as jf" in source, path.name
        assert "nnx.Module" not in source and "class " not in source, f"{path.name}: import model code, do not copy it"


def _kernel_manager(tmp_path: Path):
    """A kernel manager whose python3 kernel is this interpreter, whatever kernelspecs are installed."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ksm)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    cwd, scratch = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    scratch.mkdir()
    monkeypatch.setenv("JAXFORMER_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("TMPDIR", str(scratch))  # the notebooks' SMOKE workdirs (tempfile) land in tmp_path
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert images >= 1, f"{path.name} drew no figure"
