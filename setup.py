"""Packaging glue that pyproject.toml cannot express: ship the top-level data folders inside the wheel.

``sql/`` and ``examples/demo_estate`` / ``examples/demo_app`` stay at the repository's top level (the
design card), but an installed heal needs them: they are mapped into the package as
``heal_pipeline/_data/{sql,demo_estate,demo_app}`` and read through :mod:`heal_pipeline.packaged`
(importlib.resources). An editable install or a source checkout reads them from the repository.
"""

from setuptools import find_namespace_packages, find_packages, setup

DATA = {"sql": "sql", "demo_estate": "examples/demo_estate", "demo_app": "examples/demo_app",
        "demo_js": "examples/demo_js"}

packages = find_packages(include=["heal_pipeline", "heal_pipeline.*"])
package_dir = {}
package_data = {}
for name, folder in DATA.items():
    root = f"heal_pipeline._data.{name}"
    package_dir[root] = folder
    for sub in [root] + [f"{root}.{p}" for p in find_namespace_packages(where=folder)]:
        if sub not in packages:
            packages.append(sub)
        package_data[sub] = ["*.sql", "*.json", "*.py", "*.js", "*.ts"]

setup(packages=packages, package_dir=package_dir, package_data=package_data)
