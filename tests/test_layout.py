"""The tests test this checkout: every project package is imported from the repository the
tests run in (not from another checkout that shares the virtualenv), and the test folders
mirror the packages."""
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
TOP_LEVEL = sorted({p.split(".")[0] for p in PACKAGES})


@pytest.mark.parametrize("name", PACKAGES)
def test_package_comes_from_this_checkout(name):
    mod = importlib.import_module(name)
    origin = Path(mod.__file__).resolve()
    assert origin.is_relative_to(ROOT / name.replace(".", "/")), \
        f"{name} was imported from {origin}, not from this checkout ({ROOT})"


def test_test_package_is_not_a_project_package():
    # tests/ is a package of its own, so tests/hw/ is `tests.hw` and never shadows `hw`
    import hw
    import tests.hw
    assert Path(hw.__file__).resolve().parent == ROOT / "hw"
    assert Path(tests.hw.__file__).resolve().parent == ROOT / "tests" / "hw"


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_test_layout_mirrors_the_packages(name):
    assert (ROOT / "tests" / name / "__init__.py").is_file(), f"tests/{name}/ is missing"


def test_every_package_says_what_it_holds_and_may_import():
    for name in PACKAGES:
        doc = importlib.import_module(name).__doc__ or ""
        assert len(doc.split()) >= 12, f"{name}/__init__.py: the docstring should say what the package holds"
        if "." not in name:
            assert "may import" in doc.lower(), f"{name}/__init__.py: the docstring should say what the package may import"


#: What each package may import of the others (docs/design.md, "Layout"); dcsim may import all.
MAY_IMPORT = {
    "arch": set(),
    "network": {"arch"},
    "compress": {"arch", "network"},
    "sim": {"arch", "network", "compress"},
    "energy_model": {"arch"},
    "hw": {"arch"},
    "machines": {"arch", "network", "compress", "sim", "energy_model", "hw"},
    "reports": {"arch"},
}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_packages_import_only_what_they_may(package):
    import ast

    others = set(TOP_LEVEL) - {package}
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                top = name.split(".")[0]
                if top in others and top not in MAY_IMPORT[package]:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not bad, "\n".join(bad)
