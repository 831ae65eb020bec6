"""Maps the top-level folders (the architecture) into the `pydock` import package.

`runtime/` is imported as `pydock.runtime`, and so on (see DESIGN.md). The package list is derived
from the tree so that a new sub-package needs no edit here.
"""
from pathlib import Path

from setuptools import setup

ROOTS = {"pydock": "pydock", "pydock.runtime": "runtime", "pydock.logdrivers": "logdrivers",
         "pydock.agent": "agent", "pydock.collector": "collector", "pydock.dashboards": "dashboards",
         "pydock.api": "api", "pydock.compose": "compose"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            if name == "pydock" and rel and rel[0] in {"runtime", "logdrivers", "agent", "collector",
                                                      "dashboards", "api", "compose"}:
                continue
            found.append(".".join((name, *rel)))
    return found


setup(packages=_packages(), package_dir=ROOTS)
