"""MiniDB families: SQL scalar functions and aggregates, one module each.

Each is specified once: its code and its test cases as Python values; the test module
is generated from their ``repr``.
"""

from __future__ import annotations

from typing import Any

from .builder import code_unit
from .redis_commands import source_repr
from .units import Unit

FUNCTION_SOURCE = '''
"""SQL function __UPPER__: __SUMMARY__."""

from __future__ import annotations

from typing import Any

NAME = "__UPPER__"


def call(__PARAMS__) -> Any:
    """__UPPER__: __SUMMARY__."""
__BODY__
'''

# name: (summary, params, body, cases [(args, result)], error cases [args])
FUNCTIONS: dict[str, tuple[str, str, str, list[tuple[tuple[Any, ...], Any]], list[tuple[Any, ...]]]] = {
    "upper": ("the text in upper case; NULL stays NULL", "text: Any",
              "    return None if text is None else str(text).upper()",
              [(("abc",), "ABC"), ((None,), None), ((12,), "12")], []),
    "lower": ("the text in lower case; NULL stays NULL", "text: Any",
              "    return None if text is None else str(text).lower()",
              [(("AbC",), "abc"), ((None,), None)], []),
    "length": ("characters in text (bytes in a blob); NULL stays NULL", "value: Any",
               "    if value is None:\n        return None\n"
               "    return len(value) if isinstance(value, str | bytes) else len(str(value))",
               [(("héllo",), 5), ((b"\x00\x01",), 2), ((123,), 3), ((None,), None)], []),
    "abs": ("the absolute value of a number", "x: Any",
            "    if x is None:\n        return None\n    if isinstance(x, bool) or not isinstance(x, int | float):\n"
            "        raise TypeError(f\"ABS needs a number, got {type(x).__name__}\")\n    return abs(x)",
            [((-3,), 3), ((2.5,), 2.5), ((None,), None)], [("a",)]),
    "round": ("a number rounded half away from zero to some digits", "x: Any, digits: int = 0",
              "    from decimal import ROUND_HALF_UP, Decimal\n\n    if x is None:\n        return None\n"
              "    step = Decimal(1).scaleb(-digits)\n"
              "    return float(Decimal(str(x)).quantize(step, rounding=ROUND_HALF_UP))",
              [((2.5,), 3.0), ((-2.5,), -3.0), ((3.14159, 2), 3.14), ((None,), None)], []),
    "coalesce": ("the first argument that is not NULL", "*values: Any",
                 "    return next((v for v in values if v is not None), None)",
                 [((None, 0, 1), 0), ((None, None), None), (("a",), "a")], []),
    "nullif": ("NULL if both arguments are equal, else the first", "a: Any, b: Any",
               "    return None if a == b else a", [((1, 1), None), ((1, 2), 1)], []),
    "ifnull": ("the second argument when the first is NULL", "a: Any, b: Any",
               "    return b if a is None else a", [((None, 5), 5), ((0, 5), 0)], []),
    "substr": ("part of a text from a 1-based (or negative) start", "text: Any, start: int, length: int | None = None",
               "    if text is None or start is None:\n        return None\n    text = str(text)\n"
               "    begin = start - 1 if start > 0 else max(0, len(text) + start) if start < 0 else 0\n"
               "    if length is None:\n        return text[begin:]\n    if length < 0:\n"
               "        raise ValueError(\"SUBSTR length must be >= 0\")\n    return text[begin : begin + length]",
               [(("hello", 2, 3), "ell"), (("hello", -3), "llo"), (("hello", 9), ""), ((None, 1), None)],
               [("hello", 1, -1)]),
    "trim": ("text without leading and trailing characters (spaces by default)", "text: Any, chars: str = \" \"",
             "    return None if text is None else str(text).strip(chars)",
             [(("  a b  ",), "a b"), (("xxaxx", "x"), "a"), ((None,), None)], []),
    "ltrim": ("text without leading characters (spaces by default)", "text: Any, chars: str = \" \"",
              "    return None if text is None else str(text).lstrip(chars)", [(("  a  ",), "a  ")], []),
    "rtrim": ("text without trailing characters (spaces by default)", "text: Any, chars: str = \" \"",
              "    return None if text is None else str(text).rstrip(chars)", [(("  a  ",), "  a")], []),
    "replace": ("text with every occurrence of one string replaced", "text: Any, old: str, new: str",
                "    if text is None or old is None or new is None:\n        return None\n"
                "    return str(text) if old == \"\" else str(text).replace(old, new)",
                [(("a-b-c", "-", "+"), "a+b+c"), (("abc", "", "x"), "abc"), ((None, "a", "b"), None)], []),
    "instr": ("the 1-based position of a substring, 0 if absent", "haystack: Any, needle: Any",
              "    if haystack is None or needle is None:\n        return None\n"
              "    return str(haystack).find(str(needle)) + 1",
              [(("hello", "ll"), 3), (("hello", "z"), 0), ((None, "a"), None)], []),
    "sign": ("-1, 0 or 1 by the sign of a number", "x: Any",
             "    if x is None:\n        return None\n    return (x > 0) - (x < 0)",
             [((-4.2,), -1), ((0,), 0), ((7,), 1), ((None,), None)], []),
    "hex": ("upper-case hex of a blob, or of a value's text", "value: Any",
            "    if value is None:\n        return None\n"
            "    data = value if isinstance(value, bytes) else str(value).encode(\"utf-8\")\n"
            "    return data.hex().upper()",
            [((b"\xab\x01",), "AB01"), (("A",), "41"), ((12,), "3132")], []),
    "quote": ("a value as an SQL literal", "value: Any",
              "    if value is None:\n        return \"NULL\"\n    if isinstance(value, bytes):\n"
              "        return \"X'\" + value.hex().upper() + \"'\"\n    if isinstance(value, str):\n"
              "        return \"'\" + value.replace(\"'\", \"''\") + \"'\"\n    return str(value)",
              [((None,), "NULL"), (("it's",), "'it''s'"), ((b"\x01",), "X'01'"), ((2.5,), "2.5")], []),
    "typeof": ("the storage class of a value", "value: Any",
               "    if value is None:\n        return \"null\"\n    if isinstance(value, bool | int):\n"
               "        return \"integer\"\n    if isinstance(value, float):\n        return \"real\"\n"
               "    return \"blob\" if isinstance(value, bytes) else \"text\"",
               [((None,), "null"), ((True,), "integer"), ((1.0,), "real"), ((b"",), "blob"), (("",), "text")],
               []),
    "max": ("the largest argument, NULL if any is NULL", "*values: Any",
            "    if not values:\n        raise TypeError(\"MAX needs at least one argument\")\n"
            "    return None if any(v is None for v in values) else max(values)",
            [((3, 9, 2), 9), ((1, None), None)], [()]),
    "min": ("the smallest argument, NULL if any is NULL", "*values: Any",
            "    if not values:\n        raise TypeError(\"MIN needs at least one argument\")\n"
            "    return None if any(v is None for v in values) else min(values)",
            [((3, 9, 2), 2), (("b", "a"), "a")], [()]),
    "concat": ("the texts of the arguments joined, NULLs skipped", "*values: Any",
               "    return \"\".join(str(v) for v in values if v is not None)",
               [(("a", None, 1), "a1"), ((), "")], []),
    "reverse": ("the characters of a text in reverse order", "text: Any",
                "    return None if text is None else str(text)[::-1]", [(("abc",), "cba")], []),
    "lpad": ("text padded on the left to a width", "text: Any, width: int, fill: str = \" \"",
             "    if text is None:\n        return None\n    if not fill:\n"
             "        raise ValueError(\"LPAD fill must not be empty\")\n    text = str(text)\n"
             "    if len(text) >= width:\n        return text[:width]\n"
             "    pad = (fill * width)[: width - len(text)]\n    return pad + text",
             [(("7", 3, "0"), "007"), (("abcd", 2), "ab")], [("a", 3, "")]),
}

AGGREGATE_SOURCE = '''
"""SQL aggregate __UPPER__: __SUMMARY__."""

from __future__ import annotations

from typing import Any

NAME = "__UPPER__"


class Aggregate:
    """Feed values with ``step``; ``finalize`` gives __UPPER__ (NULLs are skipped)."""

    def __init__(self) -> None:
__INIT__

    def step(self, value: Any) -> None:
        if value is None:
            return
__STEP__

    def finalize(self) -> Any:
__FINAL__


def aggregate(values: list[Any]) -> Any:
    """__UPPER__ over ``values`` in one call."""
    agg = Aggregate()
    for value in values:
        agg.step(value)
    return agg.finalize()
'''

# name: (summary, init, step, finalize, cases [(values, result)])
AGGREGATES: dict[str, tuple[str, str, str, str, list[tuple[list[Any], Any]]]] = {
    "count": ("the number of non-NULL values", "        self.n = 0", "        self.n += 1",
              "        return self.n", [([1, None, "a"], 2), ([], 0)]),
    "sum": ("the sum of the values, NULL when there are none", "        self.total = None",
            "        self.total = value if self.total is None else self.total + value",
            "        return self.total", [([1, 2, None, 3], 6), ([None], None), ([1.5, 1], 2.5)]),
    "total": ("the sum as a float, 0.0 when there are none", "        self.total = 0.0",
              "        self.total += value", "        return self.total", [([1, 2], 3.0), ([], 0.0)]),
    "avg": ("the mean of the values", "        self.total = 0.0\n        self.n = 0",
            "        self.total += value\n        self.n += 1",
            "        return self.total / self.n if self.n else None", [([1, 2, 3, None], 2.0), ([], None)]),
    "min": ("the smallest value", "        self.best = None",
            "        if self.best is None or value < self.best:\n            self.best = value",
            "        return self.best", [([3, None, 1, 2], 1), (["b", "a"], "a")]),
    "max": ("the largest value", "        self.best = None",
            "        if self.best is None or value > self.best:\n            self.best = value",
            "        return self.best", [([3, None, 1, 2], 3), ([], None)]),
    "group_concat": ("the values' texts joined by commas", "        self.parts: list[str] = []",
                     "        self.parts.append(str(value))",
                     "        return \",\".join(self.parts) if self.parts else None",
                     [(["a", None, 1], "a,1"), ([], None)]),
    "variance": ("the sample variance (Welford's method)",
                 "        self.n = 0\n        self.mean = 0.0\n        self.m2 = 0.0",
                 "        self.n += 1\n        delta = value - self.mean\n"
                 "        self.mean += delta / self.n\n        self.m2 += delta * (value - self.mean)",
                 "        return self.m2 / (self.n - 1) if self.n > 1 else None",
                 [([2, 4, 4, 4, 5, 5, 7, 9], 4.571428571428571), ([1], None)]),
    "median": ("the middle value (mean of the two middle ones)", "        self.values: list[Any] = []",
               "        self.values.append(value)",
               "        if not self.values:\n            return None\n"
               "        ordered = sorted(self.values)\n        mid = len(ordered) // 2\n"
               "        if len(ordered) % 2:\n            return ordered[mid]\n"
               "        return (ordered[mid - 1] + ordered[mid]) / 2",
               [([5, 1, 3], 3), ([4, 1, 3, 2], 2.5), ([None], None)]),
}


def _function_test(name: str, cases: list[tuple[tuple[Any, ...], Any]], errors: list[tuple[Any, ...]]) -> str:
    rows = ",\n".join(f"    ({source_repr(list(args))}, {source_repr(result)})" for args, result in cases)
    text = (f"import pytest\n\nfrom __PKG__.functions.fn_{name} import NAME, call\n\n\n"
            f"def test_name():\n    assert NAME == {name.upper()!r}\n\n\n"
            f"@pytest.mark.parametrize(\"args, expected\", [\n{rows},\n])\n"
            "def test_call(args, expected):\n    assert call(*args) == expected\n")
    for i, args in enumerate(errors, start=1):
        text += (f"\n\ndef test_bad_arguments_{i}():\n    with pytest.raises((TypeError, ValueError)):\n"
                 f"        call(*{source_repr(list(args))})\n")
    return text


def _expected(result: Any) -> str:
    return f"pytest.approx({result!r})" if isinstance(result, float) else source_repr(result)


def _aggregate_test(name: str, cases: list[tuple[list[Any], Any]]) -> str:
    rows = ",\n".join(f"    ({source_repr(values)}, {_expected(result)})" for values, result in cases)
    return (f"import pytest\n\nfrom __PKG__.aggregates.agg_{name} import NAME, Aggregate, aggregate\n\n\n"
            f"@pytest.mark.parametrize(\"values, expected\", [\n{rows},\n])\n"
            "def test_aggregate(values, expected):\n    assert aggregate(values) == expected\n\n\n"
            "def test_step_by_step_matches_one_call():\n    agg = Aggregate()\n"
            f"    values = {source_repr(cases[0][0])}\n    for value in values:\n        agg.step(value)\n"
            f"    assert agg.finalize() == aggregate(values)\n    assert NAME == {name.upper()!r}\n")


def units(pkg: str) -> list[Unit]:
    out = []
    for index, (name, (summary, params, body, cases, errors)) in enumerate(FUNCTIONS.items()):
        source = (FUNCTION_SOURCE.replace("__UPPER__", name.upper())
                  .replace("__SUMMARY__", summary).replace("__PARAMS__", params)
                  .replace("__BODY__", body))
        out.append(code_unit(pkg, f"functions.{name}", f"functions.fn_{name}", source,
                             _function_test(name, cases, errors), stage=1 if index < 12 else 2,
                             package_doc="SQL scalar functions: one module per function.",
                             summary=f"{name.upper()}(): {summary}",
                             title=f"implement the SQL function {name.upper()}"))
    for name, (summary, init, step, final, agg_cases) in AGGREGATES.items():
        source = (AGGREGATE_SOURCE.replace("__UPPER__", name.upper())
                  .replace("__SUMMARY__", summary).replace("__INIT__", init)
                  .replace("__STEP__", step).replace("__FINAL__", final))
        out.append(code_unit(pkg, f"aggregates.{name}", f"aggregates.agg_{name}", source,
                             _aggregate_test(name, agg_cases), stage=2,
                             package_doc="SQL aggregates: step() per value, finalize() at the end.",
                             summary=f"{name.upper()} aggregate: {summary}",
                             title=f"implement the {name.upper()} aggregate"))
    return out
