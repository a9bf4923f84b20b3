"""Helpers that turn template text into units. Templates name the package ``__PKG__``."""

from __future__ import annotations

import textwrap

from .units import Unit


def fill(template: str, pkg: str, **values: str) -> str:
    """Dedent a template and substitute ``__PKG__`` and ``__NAME__``-style placeholders."""
    text = textwrap.dedent(template).lstrip("\n").replace("__PKG__", pkg)
    for key, value in values.items():
        text = text.replace(f"__{key.upper()}__", value)
    return text if text.endswith("\n") else text + "\n"


def code_unit(
    pkg: str,
    key: str,
    module: str,
    source: str,
    test: str,
    *,
    stage: int,
    title: str = "",
    summary: str = "",
    package_doc: str = "",
    owner: str = "slot",
    deps: tuple[str, ...] = (),
    test_name: str = "",
) -> Unit:
    """A module ``pkg/<module>.py`` and ``tests/test_<name>.py``.

    ``module`` is dotted below the package (``"backoff.linear"``); a module inside a
    subpackage also carries that subpackage's ``__init__.py`` (created only if absent).
    """
    parts = module.split(".")
    files: list[tuple[str, str]] = []
    if len(parts) > 1:
        doc = package_doc or f"The {parts[0]} components of {pkg}."
        files.append((f"{pkg}/{'/'.join(parts[:-1])}/__init__.py", f'"""{doc}"""\n'))
    files.append((f"{pkg}/{'/'.join(parts)}.py", fill(source, pkg)))
    files.append((f"tests/test_{test_name or '_'.join(parts)}.py", fill(test, pkg)))
    return Unit(
        key=key,
        title=title or f"implement {pkg}.{module}",
        kind="code",
        stage=stage,
        files=tuple(files),
        owner=owner,
        deps=tuple(f"{pkg}/{d.replace('.', '/')}.py" for d in deps),
        summary=summary,
    )


def suite_unit(
    pkg: str, key: str, name: str, test: str, *, stage: int, owner: str, deps: tuple[str, ...],
    title: str, summary: str = "",
) -> Unit:
    """A test module alone (``tests/test_<name>.py``) over modules that must exist."""
    return Unit(
        key=key,
        title=title,
        kind="test",
        stage=stage,
        files=((f"tests/test_{name}.py", fill(test, pkg)),),
        owner=owner,
        deps=tuple(f"{pkg}/{d.replace('.', '/')}.py" for d in deps),
        summary=summary,
    )


def doc_unit(
    key: str, path: str, text: str, *, stage: int, owner: str, title: str, kind: str = "doc",
    pkg: str = "", **values: str,
) -> Unit:
    return Unit(
        key=key,
        title=title,
        kind=kind,
        stage=stage,
        files=((path, fill(text, pkg, **values)),),
        owner=owner,
        summary=title,
    )
