#!/usr/bin/python3
"""examples/fig2.py (cells marked "# %%") as the notebook examples/fig2.ipynb.

  notebook.py write          writes examples/fig2.ipynb from examples/fig2.py
  notebook.py check          fails when the committed notebook's cells differ from the script's
  notebook.py execute OUT    check, then run the notebook with nbconvert's ExecutePreprocessor
                             (a local ipykernel, no network) and write the executed copy to OUT
"""
import os
import pathlib
import sys

import nbformat

SOURCE = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = SOURCE / "examples" / "fig2.py"
NOTEBOOK = SOURCE / "examples" / "fig2.ipynb"


def cells(text):
    """The script's cells: (kind, source) for every '# %%' block, markdown for '# %% [markdown]'."""
    out = []
    for block in text.split("# %%")[1:]:
        head, _, body = block.partition("\n")
        lines = body.rstrip("\n").split("\n")
        if head.strip() == "[markdown]":
            out.append(("markdown", "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)))
        else:
            out.append(("code", "\n".join(lines).strip("\n")))
    return out


def notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source in cells(SCRIPT.read_text()):
        nb.cells.append(nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source))
    return nb


def check():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    want = [(c.cell_type, c.source) for c in notebook().cells]
    got = [(c.cell_type, c.source) for c in committed.cells]
    if got != want:
        sys.exit(f"{NOTEBOOK} differs from {SCRIPT}: run tests/python/notebook.py write")


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "write":
        nb = notebook()
        for i, c in enumerate(nb.cells):
            c["id"] = f"cell-{i}"  # stable ids: the file changes only with the script
        nbformat.write(nb, NOTEBOOK)
    elif command == "check":
        check()
    elif command == "execute" and len(sys.argv) == 3:
        check()
        from nbconvert.preprocessors import ExecutePreprocessor
        nb = nbformat.read(NOTEBOOK, as_version=4)
        ExecutePreprocessor(timeout=600, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(NOTEBOOK.parent)}})
        images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if "image/png" in o.get("data", {}))
        if images < 3:
            sys.exit(f"the executed notebook shows {images} figures inline, expected 3")
        nbformat.write(nb, sys.argv[2])
        print(f"notebook: executed, {images} figures inline, written to {sys.argv[2]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
