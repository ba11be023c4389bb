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
