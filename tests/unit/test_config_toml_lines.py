"""The TOML line scanner: key paths to the lines that define them."""

from __future__ import annotations

import tomllib

from supervisor.config.toml_lines import key_lines, line_of, parent_key

DOC = '''# comment
title = "x"
a."b.c" = 1
text = """
[not_a_table]
fake = 1
"""

[[phases]]
name = "one"
objectives = [
    "first",
    "second",
]

[[phases]]
name = "two"  # trailing comment

[phases.extra]
k = { x = 1, y = [2, { z = 3 }] }

[[phases.sub]]
n = 1

[[phases.sub]]
n = 2

['quoted key']
v = "it's = ["
'''


def test_key_lines_follow_tables_arrays_and_multiline_values() -> None:
    """Headers, array indices, dotted/quoted keys and multi-line values map correctly."""
    tomllib.loads(DOC)  # the scanner is only ever given valid TOML
    lines = key_lines(DOC)
    expected = {
        "title": 2,
        "a.b.c": 3,
        "text": 4,
        "phases[0]": 9,
        "phases[0].name": 10,
        "phases[0].objectives": 11,
        "phases[1].name": 17,
        "phases[1].extra.k.y[1].z": 20,
        "phases[1].sub[0].n": 23,
        "phases[1].sub[1].n": 26,
        "quoted key.v": 29,
    }
    assert {k: lines.get(k) for k in expected} == expected
    assert "not_a_table" not in lines and "fake" not in lines


def test_line_of_falls_back_to_the_enclosing_table() -> None:
    """A key that is absent gets the line of the nearest table that holds it."""
    lines = key_lines(DOC)
    assert line_of(lines, "phases[1].extra.missing") == 19
    assert line_of(lines, "nothing.here") is None
    assert parent_key("a.b[2].c") == "a.b[2]" and parent_key("a.b[2]") == "a.b"
