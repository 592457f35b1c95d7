"""Where heal's data folders are: inside an installed wheel, or at the top of a source checkout.

``sql/``, ``examples/demo_estate`` and ``examples/demo_app`` live at the repository's top level;
setup.py ships them inside the wheel as ``heal_pipeline/_data/<name>``. :func:`data_dir` prefers
the packaged copy (read with :mod:`importlib.resources`) and falls back to the checkout, which is
what an editable install and the tests see. No Dagster here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: the repository root of a source checkout (meaningless in an installed wheel)
REPO_ROOT = Path(__file__).resolve().parents[1]

#: packaged name -> folder in a source checkout
FOLDERS = {"sql": "sql", "demo_estate": "examples/demo_estate", "demo_app": "examples/demo_app",
           "demo_js": "examples/demo_js"}


def data_dir(name: str) -> Path:
    """The folder of one data set ('sql', 'demo_estate', 'demo_app', 'demo_js') as a real path."""
    packaged = resources.files("heal_pipeline").joinpath("_data", name)
    if packaged.is_dir():
        return Path(str(packaged))
    return REPO_ROOT / FOLDERS[name]
