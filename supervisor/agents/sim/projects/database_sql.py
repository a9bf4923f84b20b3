"""MiniDB SQL front end: tokenizer and parser."""

from __future__ import annotations

TOKENIZER = ('''
"""SQL tokenizer for MiniDB's subset: keywords, names, numbers, strings, operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    "SELECT FROM WHERE INSERT INTO VALUES CREATE TABLE DELETE UPDATE SET AND OR NOT NULL "
    "ORDER BY ASC DESC LIMIT INTEGER REAL TEXT BOOLEAN".split()
)
_TOKEN = re.compile(
    r"""\\s*(?:
        (?P<number>\\d+\\.\\d+|\\d+)
      | (?P<string>'(?:[^']|'')*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|<>|!=|=|<|>|\\*|,|\\(|\\)|;|\\+|-|/)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # keyword, name, number, string, op
    value: str | int | float


class SQLSyntaxError(ValueError):
    """The SQL text cannot be tokenized or parsed."""


def tokenize(sql: str) -> list[Token]:
    """The tokens of ``sql``; keywords are upper-cased, strings unquoted."""
    tokens: list[Token] = []
    pos = 0
    sql = sql.rstrip()
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None or match.end() == pos:
            raise SQLSyntaxError(f"unexpected character {sql[pos:].lstrip()[:1]!r} at {pos}")
        pos = match.end()
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "number":
            tokens.append(Token("number", float(text) if "." in text else int(text)))
        elif kind == "string":
            tokens.append(Token("string", text[1:-1].replace("''", "'")))
        elif kind == "name" and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper()))
        else:
            tokens.append(Token(kind, text))
    return tokens
''', '''
import pytest

from __PKG__.tokenizer import SQLSyntaxError, Token, tokenize


def test_keywords_names_and_numbers():
    assert tokenize("select a, 12 from t") == [
        Token("keyword", "SELECT"), Token("name", "a"), Token("op", ","),
        Token("number", 12), Token("keyword", "FROM"), Token("name", "t"),
    ]


def test_strings_unescape_doubled_quotes():
    assert tokenize("'it''s'") == [Token("string", "it's")]


def test_operators_and_floats():
    kinds = [t.value for t in tokenize("a<=1.5 and b<>2")]
    assert kinds == ["a", "<=", 1.5, "AND", "b", "<>", 2]


def test_rejects_unknown_characters():
    with pytest.raises(SQLSyntaxError):
        tokenize("select @x")
''')


PARSER = ('''
"""Parser for MiniDB's SQL subset: CREATE TABLE, INSERT, SELECT, UPDATE, DELETE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from __PKG__.tokenizer import SQLSyntaxError, Token, tokenize


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # = <> != < <= > >=
    value: Any


@dataclass(frozen=True)
class Statement:
    kind: str  # create, insert, select, update, delete
    table: str
    columns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    where: tuple[Condition, ...] = field(default=())
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


class _Tokens:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, value: Any = None) -> Token:
        token = self.peek()
        if token is None:
            raise SQLSyntaxError(f"unexpected end of statement, expected {value or kind}")
        if (kind and token.kind != kind) or (value is not None and token.value != value):
            raise SQLSyntaxError(f"expected {value or kind}, found {token.value!r}")
        self.pos += 1
        return token

    def accept(self, value: str) -> bool:
        token = self.peek()
        if token is not None and token.value == value:
            self.pos += 1
            return True
        return False

    def name(self) -> str:
        return str(self.take("name").value)

    def literal(self) -> Any:
        token = self.take()
        if token.kind in ("number", "string"):
            return token.value
        if token.value == "NULL":
            return None
        if token.value == "-":
            return -self.take("number").value
        raise SQLSyntaxError(f"expected a value, found {token.value!r}")

    def names(self) -> tuple[str, ...]:
        items = [self.name()]
        while self.accept(","):
            items.append(self.name())
        return tuple(items)


def _where(t: _Tokens) -> tuple[Condition, ...]:
    if not t.accept("WHERE"):
        return ()
    conditions = []
    while True:
        column = t.name()
        op = t.take("op").value
        if op not in ("=", "<>", "!=", "<", "<=", ">", ">="):
            raise SQLSyntaxError(f"unknown comparison {op!r}")
        conditions.append(Condition(column, str(op), t.literal()))
        if not t.accept("AND"):
            return tuple(conditions)


def parse(sql: str) -> Statement:
    """Parse one statement (a trailing semicolon is allowed)."""
    t = _Tokens(tokenize(sql))
    head = t.take("keyword").value
    if head == "CREATE":
        t.take(value="TABLE")
        table = t.name()
        t.take(value="(")
        columns, types = [], []
        while True:
            columns.append(t.name())
            types.append(str(t.take("keyword").value))
            if not t.accept(","):
                break
        t.take(value=")")
        stmt = Statement("create", table, tuple(columns), tuple(types))
    elif head == "INSERT":
        t.take(value="INTO")
        table = t.name()
        t.take(value="(")
        columns = t.names()
        t.take(value=")")
        t.take(value="VALUES")
        t.take(value="(")
        values = [t.literal()]
        while t.accept(","):
            values.append(t.literal())
        t.take(value=")")
        if len(values) != len(columns):
            raise SQLSyntaxError(f"{len(columns)} columns but {len(values)} values")
        stmt = Statement("insert", table, columns, values=tuple(values))
    elif head == "SELECT":
        columns = ("*",) if t.accept("*") else t.names()
        t.take(value="FROM")
        table = t.name()
        where = _where(t)
        order, desc, limit = None, False, None
        if t.accept("ORDER"):
            t.take(value="BY")
            order = t.name()
            desc = t.accept("DESC")
            if not desc:
                t.accept("ASC")
        if t.accept("LIMIT"):
            limit = int(t.take("number").value)
        stmt = Statement("select", table, columns, where=where, order_by=order,
                         descending=desc, limit=limit)
    elif head == "UPDATE":
        table = t.name()
        t.take(value="SET")
        columns, values = [], []
        while True:
            columns.append(t.name())
            t.take(value="=")
            values.append(t.literal())
            if not t.accept(","):
                break
        stmt = Statement("update", table, tuple(columns), values=tuple(values), where=_where(t))
    elif head == "DELETE":
        t.take(value="FROM")
        table = t.name()
        stmt = Statement("delete", table, where=_where(t))
    else:
        raise SQLSyntaxError(f"unsupported statement {head}")
    t.accept(";")
    if t.peek() is not None:
        raise SQLSyntaxError(f"unexpected {t.peek().value!r} after the statement")
    return stmt
''', '''
import pytest

from __PKG__.parser import Condition, parse
from __PKG__.tokenizer import SQLSyntaxError


def test_create_table():
    stmt = parse("CREATE TABLE users (id INTEGER, name TEXT);")
    assert (stmt.kind, stmt.table, stmt.columns, stmt.types) == (
        "create", "users", ("id", "name"), ("INTEGER", "TEXT"))


def test_insert_values():
    stmt = parse("insert into users (id, name) values (1, 'ann')")
    assert stmt.values == (1, "ann") and stmt.columns == ("id", "name")


def test_select_where_order_limit():
    stmt = parse("SELECT name FROM users WHERE id >= 2 AND name <> 'x' ORDER BY id DESC LIMIT 5")
    assert stmt.where == (Condition("id", ">=", 2), Condition("name", "<>", "x"))
    assert stmt.order_by == "id" and stmt.descending and stmt.limit == 5


def test_update_and_delete():
    assert parse("UPDATE t SET a = -1, b = NULL WHERE id = 3").values == (-1, None)
    assert parse("DELETE FROM t").where == ()


@pytest.mark.parametrize("sql", ["SELECT FROM t", "INSERT INTO t (a) VALUES (1, 2)",
                                 "DROP TABLE t", "SELECT a FROM t extra"])
def test_syntax_errors(sql):
    with pytest.raises(SQLSyntaxError):
        parse(sql)
''')
