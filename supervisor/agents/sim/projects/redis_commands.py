"""RedQueue family: one module per Redis command, over a plain dict keyspace.

Each command is specified once: its body, and test cases as Python values (the test
module is generated from their ``repr``): (db before, args, reply, db after or None).
"""

from __future__ import annotations

from typing import Any

from .builder import code_unit
from .units import Unit

TYPED = '''

def _typed(db: dict, key: bytes, kind: type) -> Any:
    value = db.get(key)
    if value is not None and not isinstance(value, kind):
        raise ValueError("WRONGTYPE Operation against a key holding the wrong kind of value")
    return value
'''

INT = '''

def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("ERR value is not an integer or out of range") from None
'''

SOURCE = '''
"""__UPPER__: __SUMMARY__."""

from __future__ import annotations

from typing import Any

NAME = "__UPPER__"
ARITY = __ARITY__  # minimum number of arguments


def handle(db: dict, args: list[bytes]) -> Any:
    """__UPPER__ with Redis semantics, over a dict keyspace."""
    if len(args) < ARITY:
        raise ValueError(f"ERR wrong number of arguments for '{NAME.lower()}' command")
__BODY__
__HELPERS__'''

WRONG = ValueError  # marker for readability in the tables below
Case = tuple[dict[bytes, Any], list[bytes], Any, Any]

# name: (summary, arity, body, helpers, cases, error cases (db, args))
COMMANDS: dict[str, tuple[str, int, str, str, list[Case], list[tuple[dict[bytes, Any], list[bytes]]]]] = {
    "ping": ("reply PONG, or echo the message given", 0,
             "    return args[0] if args else b\"PONG\"", "",
             [({}, [], b"PONG", None), ({}, [b"hi"], b"hi", None)], []),
    "echo": ("reply with the message", 1, "    return args[0]", "",
             [({}, [b"hello"], b"hello", None)], []),
    "get": ("the string value of a key, or nil", 1, "    return _typed(db, args[0], bytes)", TYPED,
            [({b"k": b"v"}, [b"k"], b"v", None), ({}, [b"k"], None, None)],
            [({b"k": [b"x"]}, [b"k"])]),
    "set": ("set a key to a string value", 2,
            "    db[args[0]] = args[1]\n    return b\"OK\"", "",
            [({}, [b"k", b"v"], b"OK", {b"k": b"v"}), ({b"k": [b"x"]}, [b"k", b"v"], b"OK", {b"k": b"v"})],
            []),
    "setnx": ("set a key only if it does not exist", 2,
              "    if args[0] in db:\n        return 0\n    db[args[0]] = args[1]\n    return 1", "",
              [({}, [b"k", b"v"], 1, {b"k": b"v"}), ({b"k": b"a"}, [b"k", b"v"], 0, {b"k": b"a"})], []),
    "getset": ("set a key and return its old value", 2,
               "    old = _typed(db, args[0], bytes)\n    db[args[0]] = args[1]\n    return old", TYPED,
               [({b"k": b"a"}, [b"k", b"b"], b"a", {b"k": b"b"}), ({}, [b"k", b"b"], None, {b"k": b"b"})],
               [({b"k": {b"m"}}, [b"k", b"v"])]),
    "del": ("delete keys, counting those that existed", 1,
            "    return sum(1 for key in args if db.pop(key, None) is not None)", "",
            [({b"a": b"1", b"b": b"2"}, [b"a", b"c"], 1, {b"b": b"2"})], []),
    "exists": ("count how many of the keys exist", 1,
               "    return sum(1 for key in args if key in db)", "",
               [({b"a": b"1"}, [b"a", b"a", b"b"], 2, None)], []),
    "incr": ("increment the integer value of a key by one", 1,
             "    value = _int(_typed(db, args[0], bytes) or b\"0\") + 1\n"
             "    db[args[0]] = str(value).encode()\n    return value", TYPED + INT,
             [({}, [b"n"], 1, {b"n": b"1"}), ({b"n": b"41"}, [b"n"], 42, {b"n": b"42"})],
             [({b"n": b"abc"}, [b"n"])]),
    "decr": ("decrement the integer value of a key by one", 1,
             "    value = _int(_typed(db, args[0], bytes) or b\"0\") - 1\n"
             "    db[args[0]] = str(value).encode()\n    return value", TYPED + INT,
             [({}, [b"n"], -1, {b"n": b"-1"}), ({b"n": b"10"}, [b"n"], 9, {b"n": b"9"})],
             [({b"n": b"1.5"}, [b"n"])]),
    "incrby": ("increment the integer value of a key by an amount", 2,
               "    value = _int(_typed(db, args[0], bytes) or b\"0\") + _int(args[1])\n"
               "    db[args[0]] = str(value).encode()\n    return value", TYPED + INT,
               [({b"n": b"5"}, [b"n", b"10"], 15, {b"n": b"15"}), ({}, [b"n", b"-3"], -3, None)],
               [({}, [b"n", b"x"])]),
    "decrby": ("decrement the integer value of a key by an amount", 2,
               "    value = _int(_typed(db, args[0], bytes) or b\"0\") - _int(args[1])\n"
               "    db[args[0]] = str(value).encode()\n    return value", TYPED + INT,
               [({b"n": b"5"}, [b"n", b"10"], -5, {b"n": b"-5"})], [({}, [b"n", b""])]),
    "append": ("append to a string, returning the new length", 2,
               "    value = (_typed(db, args[0], bytes) or b\"\") + args[1]\n"
               "    db[args[0]] = value\n    return len(value)", TYPED,
               [({b"k": b"ab"}, [b"k", b"cd"], 4, {b"k": b"abcd"}), ({}, [b"k", b"x"], 1, {b"k": b"x"})],
               [({b"k": [b"x"]}, [b"k", b"y"])]),
    "strlen": ("the length of a string value", 1,
               "    return len(_typed(db, args[0], bytes) or b\"\")", TYPED,
               [({b"k": b"hello"}, [b"k"], 5, None), ({}, [b"k"], 0, None)], []),
    "mget": ("the values of several keys (nil for non-strings)", 1,
             "    return [v if isinstance(v := db.get(key), bytes) else None for key in args]", "",
             [({b"a": b"1", b"l": [b"x"]}, [b"a", b"b", b"l"], [b"1", None, None], None)], []),
    "mset": ("set several keys at once", 2,
             "    if len(args) % 2:\n"
             "        raise ValueError(\"ERR wrong number of arguments for 'mset' command\")\n"
             "    for i in range(0, len(args), 2):\n        db[args[i]] = args[i + 1]\n"
             "    return b\"OK\"", "",
             [({}, [b"a", b"1", b"b", b"2"], b"OK", {b"a": b"1", b"b": b"2"})], [({}, [b"a", b"1", b"b"])]),
    "lpush": ("prepend values to a list, returning its length", 2,
              "    items = _typed(db, args[0], list)\n    if items is None:\n"
              "        items = db[args[0]] = []\n    for value in args[1:]:\n"
              "        items.insert(0, value)\n    return len(items)", TYPED,
              [({}, [b"l", b"a", b"b"], 2, {b"l": [b"b", b"a"]})], [({b"l": b"s"}, [b"l", b"a"])]),
    "rpush": ("append values to a list, returning its length", 2,
              "    items = _typed(db, args[0], list)\n    if items is None:\n"
              "        items = db[args[0]] = []\n    items.extend(args[1:])\n    return len(items)", TYPED,
              [({b"l": [b"a"]}, [b"l", b"b", b"c"], 3, {b"l": [b"a", b"b", b"c"]})], []),
    "lpop": ("remove and return the first element of a list", 1,
             "    items = _typed(db, args[0], list)\n    if not items:\n        return None\n"
             "    value = items.pop(0)\n    if not items:\n        del db[args[0]]\n    return value", TYPED,
             [({b"l": [b"a", b"b"]}, [b"l"], b"a", {b"l": [b"b"]}), ({b"l": [b"a"]}, [b"l"], b"a", {}),
              ({}, [b"l"], None, {})], []),
    "rpop": ("remove and return the last element of a list", 1,
             "    items = _typed(db, args[0], list)\n    if not items:\n        return None\n"
             "    value = items.pop()\n    if not items:\n        del db[args[0]]\n    return value", TYPED,
             [({b"l": [b"a", b"b"]}, [b"l"], b"b", {b"l": [b"a"]})], [({b"l": b"x"}, [b"l"])]),
    "llen": ("the length of a list", 1, "    return len(_typed(db, args[0], list) or [])", TYPED,
             [({b"l": [b"a", b"b"]}, [b"l"], 2, None), ({}, [b"l"], 0, None)], []),
    "lrange": ("a range of list elements, inclusive, negative indexes from the end", 3,
               "    items = _typed(db, args[0], list) or []\n"
               "    start, stop = _int(args[1]), _int(args[2])\n    size = len(items)\n"
               "    if start < 0:\n        start = max(0, size + start)\n"
               "    if stop < 0:\n        stop = size + stop\n    return items[start : stop + 1]", TYPED + INT,
               [({b"l": [b"a", b"b", b"c"]}, [b"l", b"0", b"-1"], [b"a", b"b", b"c"], None),
                ({b"l": [b"a", b"b", b"c"]}, [b"l", b"-2", b"5"], [b"b", b"c"], None),
                ({}, [b"l", b"0", b"1"], [], None)], [({b"l": []}, [b"l", b"a", b"1"])]),
    "sadd": ("add members to a set, counting the new ones", 2,
             "    members = _typed(db, args[0], set)\n    if members is None:\n"
             "        members = db[args[0]] = set()\n    before = len(members)\n"
             "    members.update(args[1:])\n    return len(members) - before", TYPED,
             [({}, [b"s", b"a", b"b", b"a"], 2, {b"s": {b"a", b"b"}})], [({b"s": b"x"}, [b"s", b"a"])]),
    "srem": ("remove members from a set, counting those removed", 2,
             "    members = _typed(db, args[0], set) or set()\n"
             "    removed = sum(1 for m in set(args[1:]) if m in members)\n"
             "    members.difference_update(args[1:])\n    if not members:\n"
             "        db.pop(args[0], None)\n    return removed", TYPED,
             [({b"s": {b"a", b"b"}}, [b"s", b"a", b"z"], 1, {b"s": {b"b"}}), ({b"s": {b"a"}}, [b"s", b"a"], 1, {})],
             []),
    "sismember": ("whether a value is a member of a set", 2,
                  "    return int(args[1] in (_typed(db, args[0], set) or set()))", TYPED,
                  [({b"s": {b"a"}}, [b"s", b"a"], 1, None), ({b"s": {b"a"}}, [b"s", b"b"], 0, None)], []),
    "scard": ("the number of members of a set", 1,
              "    return len(_typed(db, args[0], set) or set())", TYPED,
              [({b"s": {b"a", b"b"}}, [b"s"], 2, None), ({}, [b"s"], 0, None)], []),
    "smembers": ("the members of a set, sorted", 1,
                 "    return sorted(_typed(db, args[0], set) or set())", TYPED,
                 [({b"s": {b"b", b"a"}}, [b"s"], [b"a", b"b"], None)], [({b"s": [b"a"]}, [b"s"])]),
    "hset": ("set hash fields, counting the new ones", 3,
             "    if len(args) % 2 == 0:\n"
             "        raise ValueError(\"ERR wrong number of arguments for 'hset' command\")\n"
             "    fields = _typed(db, args[0], dict)\n    if fields is None:\n"
             "        fields = db[args[0]] = {}\n    added = 0\n"
             "    for i in range(1, len(args), 2):\n        added += args[i] not in fields\n"
             "        fields[args[i]] = args[i + 1]\n    return added", TYPED,
             [({}, [b"h", b"f", b"1", b"g", b"2"], 2, {b"h": {b"f": b"1", b"g": b"2"}}),
              ({b"h": {b"f": b"1"}}, [b"h", b"f", b"9"], 0, {b"h": {b"f": b"9"}})], [({}, [b"h", b"f", b"1", b"g"])]),
    "hget": ("the value of a hash field", 2,
             "    return (_typed(db, args[0], dict) or {}).get(args[1])", TYPED,
             [({b"h": {b"f": b"1"}}, [b"h", b"f"], b"1", None), ({}, [b"h", b"f"], None, None)], []),
    "hdel": ("delete hash fields, counting those removed", 2,
             "    fields = _typed(db, args[0], dict) or {}\n"
             "    removed = sum(1 for f in set(args[1:]) if fields.pop(f, None) is not None)\n"
             "    if not fields:\n        db.pop(args[0], None)\n    return removed", TYPED,
             [({b"h": {b"f": b"1", b"g": b"2"}}, [b"h", b"f"], 1, {b"h": {b"g": b"2"}})], []),
    "hlen": ("the number of fields in a hash", 1,
             "    return len(_typed(db, args[0], dict) or {})", TYPED,
             [({b"h": {b"f": b"1"}}, [b"h"], 1, None)], [({b"h": b"x"}, [b"h"])]),
    "hexists": ("whether a hash field exists", 2,
                "    return int(args[1] in (_typed(db, args[0], dict) or {}))", TYPED,
                [({b"h": {b"f": b"1"}}, [b"h", b"f"], 1, None), ({}, [b"h", b"f"], 0, None)], []),
    "hgetall": ("all fields and values of a hash, flattened in field order", 1,
                "    fields = _typed(db, args[0], dict) or {}\n"
                "    return [item for f in sorted(fields) for item in (f, fields[f])]", TYPED,
                [({b"h": {b"g": b"2", b"f": b"1"}}, [b"h"], [b"f", b"1", b"g", b"2"], None)], []),
    "type": ("the type of the value stored at a key", 1,
             "    value = db.get(args[0])\n"
             "    names = {bytes: b\"string\", list: b\"list\", set: b\"set\", dict: b\"hash\"}\n"
             "    return b\"none\" if value is None else names[type(value)]", "",
             [({b"k": b"v"}, [b"k"], b"string", None), ({b"k": {b"a"}}, [b"k"], b"set", None),
              ({}, [b"k"], b"none", None)], []),
    "rename": ("rename a key", 2,
               "    if args[0] not in db:\n        raise ValueError(\"ERR no such key\")\n"
               "    db[args[1]] = db.pop(args[0])\n    return b\"OK\"", "",
               [({b"a": b"1"}, [b"a", b"b"], b"OK", {b"b": b"1"})], [({}, [b"a", b"b"])]),
}


def source_repr(value: Any) -> str:
    """``repr`` with sets sorted, so generated files do not depend on hash randomisation."""
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(source_repr(v) for v in value)) + "}" if value else "set()"
    if isinstance(value, dict):
        items = ", ".join(f"{source_repr(k)}: {source_repr(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(source_repr(v) for v in value) + "]"
    return repr(value)


def _test_module(name: str, arity: int, cases: list[Case], errors: list[tuple[dict[bytes, Any], list[bytes]]]) -> str:
    lines = [
        "import pytest" if errors or arity else "",
        "",
        f"from __PKG__.commands.cmd_{name} import ARITY, NAME, handle",
        "",
        "",
        "def test_name_and_arity():",
        f"    assert NAME == {name.upper()!r} and ARITY == {arity}",
    ]
    for i, (before, args, reply, after) in enumerate(cases, start=1):
        expect = "is None" if reply is None else f"== {source_repr(reply)}"
        lines += ["", "", f"def test_reply_{i}():", f"    db = {source_repr(before)}",
                  f"    assert handle(db, {source_repr(args)}) {expect}"]
        if after is not None:
            lines.append(f"    assert db == {source_repr(after)}")
    for i, (before, args) in enumerate(errors, start=1):
        lines += ["", "", f"def test_error_{i}():", "    with pytest.raises(ValueError):",
                  f"        handle({source_repr(before)}, {source_repr(args)})"]
    if arity:
        lines += ["", "", "def test_rejects_missing_arguments():",
                  "    with pytest.raises(ValueError):", f"        handle({{}}, {[b'x'] * (arity - 1)!r})"]
    return "\n".join(lines).lstrip("\n") + "\n"


def units(pkg: str) -> list[Unit]:
    out = []
    for index, (name, (summary, arity, body, helpers, cases, errors)) in enumerate(COMMANDS.items()):
        source = (SOURCE.replace("__UPPER__", name.upper()).replace("__SUMMARY__", summary)
                  .replace("__ARITY__", str(arity)).replace("__BODY__", body)
                  .replace("__HELPERS__", helpers))
        out.append(code_unit(
            pkg, f"commands.{name}", f"commands.cmd_{name}", source,
            _test_module(name, arity, cases, errors), stage=1 if index < 20 else 2,
            package_doc="Redis commands: one module per command, each with handle(db, args).",
            summary=f"{name.upper()}: {summary}", title=f"implement the {name.upper()} command",
        ))
    return out
