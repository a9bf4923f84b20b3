"""The shared scaffold and the role work every project has (docs, CI, release notes)."""

from __future__ import annotations

from dataclasses import dataclass

from .builder import doc_unit, fill, suite_unit
from .units import Unit


@dataclass(frozen=True)
class ProjectInfo:
    pkg: str  # the Python package, e.g. "redqueue"
    name: str  # the product name, e.g. "RedQueue"
    description: str
    components: tuple[tuple[str, str], ...]  # (module, what it does), for the docs
    decisions: tuple[tuple[str, str, str], ...]  # ADRs: (slug, title, decision text)


PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "__PKG__"
version = "0.1.0"
description = "__DESCRIPTION__"
requires-python = ">=3.10"

[tool.setuptools.packages.find]
include = ["__PKG__*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""

PACKAGE_INIT = '''
"""__NAME__: __DESCRIPTION__"""

__version__ = "0.1.0"
'''

README = """
# __NAME__

__DESCRIPTION__

## Layout

- `__PKG__/`: the package
- `tests/`: the test suite (`python -m pytest`)
- `docs/`: architecture notes and decision records

## Development

```
python -m pytest -q
```
"""

GITIGNORE = """
__pycache__/
*.pyc
.pytest_cache/
.coverage
build/
dist/
*.egg-info/
"""

CI = """
name: CI
on:
  push:
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.10", "3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - run: python -m pip install pytest
      - run: python -m pytest -q
"""

MAKEFILE = """
PYTHON ?= python3

.PHONY: test lint clean

test:
\t$(PYTHON) -m pytest -q

lint:
\t$(PYTHON) -m compileall -q __PKG__ tests

clean:
\trm -rf .pytest_cache build dist *.egg-info
\tfind . -name __pycache__ -prune -exec rm -rf {} +
"""

EDITORCONFIG = """
root = true

[*]
charset = utf-8
end_of_line = lf
insert_final_newline = true
trim_trailing_whitespace = true

[*.py]
indent_style = space
indent_size = 4

[Makefile]
indent_style = tab
"""

TOX = """
[tox]
envlist = py310, py311, py312

[testenv]
deps = pytest
commands = python -m pytest -q
"""

RELEASE = """
# Releasing __NAME__

1. `make test` passes on every supported Python.
2. Update `CHANGELOG.md` and the version in `pyproject.toml` and `__PKG__/__init__.py`.
3. Tag the release `vX.Y.Z` and push the tag; CI builds and tests it.
"""

SECURITY = """
# Security policy

## Reporting a vulnerability

Please report vulnerabilities privately to the maintainers; do not open a public issue.
We answer within five working days and publish a fix with a changelog entry.

## Hardening in __NAME__

- Inputs from the network are size-limited before they are parsed.
- Secrets are compared in constant time and redacted from logs.
- File paths built from user input are confined to their base directory.
"""

THREAT_MODEL = """
# Threat model

| Asset | Threat | Mitigation |
| --- | --- | --- |
| Process memory | oversized or deeply nested input | size limits checked before parsing |
| Credentials | timing attacks, leaks in logs | constant-time compare, log redaction |
| File system | path traversal from user input | paths confined to a base directory |
| Availability | request floods | rate limiting per client |
"""

CONTRIBUTING = """
# Contributing to __NAME__

- One module per concern, with its tests in `tests/test_<module>.py`.
- Every public function has a docstring and type hints.
- `python -m pytest -q` passes before a change is merged.
- Keep changes small; describe the behaviour they change in `CHANGELOG.md`.
"""

STYLE = """
# Style notes from review

- Prefer small pure functions; keep I/O at the edges.
- Raise `ValueError` (or a subclass) with a message that names the bad input.
- Time is passed in (`now` arguments) so behaviour is testable without sleeping.
- Tests assert behaviour, one behaviour per test function.
"""

CHANGELOG = """
# Changelog

## 0.1.0

- First release of __NAME__: __DESCRIPTION__
- Test suite under `tests/`, run with `python -m pytest`.
"""

TESTING = """
# Testing __NAME__

- Unit tests live in `tests/test_<module>.py`, one file per module.
- Property tests (`tests/test_properties_*.py`) check invariants over seeded random input.
- `tests/test_smoke_imports.py` imports every module of the package.
- Run everything with `python -m pytest -q`.
"""

SMOKE_TEST = '''
import importlib
import pkgutil

import __PKG__


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(__PKG__.__path__, "__PKG__.")]
    for name in names:
        module = importlib.import_module(name)
        assert module.__name__ == name


def test_package_has_a_version():
    major, minor, patch = __PKG__.__version__.split(".")
    assert major.isdigit() and minor.isdigit() and patch.isdigit()
'''


def scaffold(info: ProjectInfo) -> Unit:
    values = {"name": info.name, "description": info.description}
    files = (
        ("pyproject.toml", fill(PYPROJECT, info.pkg, **values)),
        (f"{info.pkg}/__init__.py", fill(PACKAGE_INIT, info.pkg, **values)),
        ("README.md", fill(README, info.pkg, **values)),
        (".gitignore", fill(GITIGNORE, info.pkg)),
    )
    return Unit("scaffold", "set up the project skeleton", "config", 0, files, owner="scaffold",
                summary=f"{info.name} is the package {info.pkg}; tests run with python -m pytest")


def _architecture(info: ProjectInfo) -> str:
    rows = "\n".join(f"| `{info.pkg}.{mod}` | {what} |" for mod, what in info.components)
    return (
        f"# {info.name} architecture\n\n{info.description}\n\n"
        "## Components\n\n| Module | Responsibility |\n| --- | --- |\n"
        f"{rows}\n\n"
        "## Principles\n\n"
        "- Components are independent modules with narrow interfaces.\n"
        "- Time is injected (`now` arguments), never read inside the logic.\n"
        "- Every module has its own test module.\n"
    )


def _adr(number: int, title: str, decision: str) -> str:
    return (
        f"# {number:04d}. {title}\n\n"
        "Status: accepted\n\n"
        f"## Decision\n\n{decision}\n\n"
        "## Consequences\n\nThe choice is recorded here so later changes can revisit it knowingly.\n"
    )


def role_units(info: ProjectInfo) -> list[Unit]:
    pkg, v = info.pkg, {"name": info.name, "description": info.description}
    units = [
        doc_unit("doc.architecture", "docs/ARCHITECTURE.md", _architecture(info), stage=0,
                 owner="Architect", title="write the architecture document"),
        doc_unit("doc.adr.0001", "docs/adr/0001-record-architecture-decisions.md",
                 _adr(1, "Record architecture decisions",
                      "We record significant decisions as short ADRs in docs/adr/."),
                 stage=0, owner="Architect", title="start the decision log"),
    ]
    for i, (slug, title, decision) in enumerate(info.decisions, start=2):
        units.append(doc_unit(f"doc.adr.{i:04d}", f"docs/adr/{i:04d}-{slug}.md",
                              _adr(i, title, decision), stage=min(2, i - 1), owner="Architect",
                              title=f"record decision: {title.lower()}"))
    api = "\n".join(f"- `{pkg}.{mod}`: {what}" for mod, what in info.components)
    units += [
        doc_unit("doc.api", "docs/API.md", f"# {info.name} API\n\n{api}\n", stage=3,
                 owner="Architect", title="write the API overview"),
        doc_unit("ci.workflow", ".github/workflows/ci.yml", CI, stage=0, owner="DevOps",
                 title="set up the CI pipeline", kind="config", pkg=pkg),
        doc_unit("ci.makefile", "Makefile", MAKEFILE, stage=0, owner="DevOps",
                 title="add a Makefile", kind="config", pkg=pkg),
        doc_unit("ci.editorconfig", ".editorconfig", EDITORCONFIG, stage=1, owner="DevOps",
                 title="add an editorconfig", kind="config"),
        doc_unit("ci.tox", "tox.ini", TOX, stage=2, owner="DevOps", title="test on every Python",
                 kind="config"),
        doc_unit("doc.release", "docs/RELEASE.md", RELEASE, stage=3, owner="DevOps",
                 title="document the release process", pkg=pkg, **v),
        doc_unit("doc.security", "SECURITY.md", SECURITY, stage=1, owner="Security",
                 title="write the security policy", **v),
        doc_unit("doc.threat_model", "docs/THREAT_MODEL.md", THREAT_MODEL, stage=2,
                 owner="Security", title="write the threat model"),
        doc_unit("doc.contributing", "CONTRIBUTING.md", CONTRIBUTING, stage=1, owner="Reviewer",
                 title="write contribution guidelines", **v),
        doc_unit("doc.style", "docs/STYLE.md", STYLE, stage=2, owner="Reviewer",
                 title="collect style notes from review"),
        doc_unit("doc.changelog", "CHANGELOG.md", CHANGELOG, stage=3, owner="Reviewer",
                 title="write the changelog", **v),
        doc_unit("doc.testing", "docs/TESTING.md", TESTING, stage=2, owner="Tester",
                 title="document the test strategy", **v),
        suite_unit(pkg, "test.smoke", "smoke_imports", SMOKE_TEST, stage=1, owner="Tester",
                   deps=("__init__",), title="add an import smoke test"),
    ]
    return units
