"""Project type ``database``: MiniDB, a small SQL database engine (package minidb)."""

from __future__ import annotations

from . import family_codecs, family_hardening, family_resilience, family_widgets, sql_functions
from .builder import code_unit, suite_unit
from .database_sql import PARSER, TOKENIZER
from .database_storage import PAGES, TABLE, TXLOG
from .roles import ProjectInfo, role_units, scaffold
from .units import Unit

PKG = "minidb"
INFO = ProjectInfo(
    pkg=PKG,
    name="MiniDB",
    description="a small SQL database engine with sorted-page storage and a transaction log.",
    components=(
        ("pages", "sorted-page store (the leaf level of a B+tree)"),
        ("tokenizer", "SQL tokenizer"),
        ("parser", "parser for CREATE TABLE, INSERT, SELECT, UPDATE, DELETE"),
        ("txlog", "write-ahead transaction log with replay"),
        ("table", "typed tables with filtering and ordering"),
        ("engine", "executes SQL statements against tables"),
        ("index", "secondary indexes with range scans"),
        ("functions", "SQL scalar functions"),
        ("aggregates", "SQL aggregates"),
    ),
    decisions=(
        ("sorted-pages", "Store rows in sorted pages",
         "Keys live in fixed-size sorted pages that split when full, like B+tree leaves."),
        ("json-lines-log", "Write the transaction log as JSON lines",
         "One JSON object per record; a torn last line is ignored on replay."),
    ),
)
VOTE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("design.storage", ("sorted-pages", "btree")),
    ("design.sql_dialect", ("sqlite", "postgres")),
    ("design.isolation", ("serializable", "snapshot")),
    ("release.version", ("0.1.0", "1.0.0")),
)

ENGINE = ('''
"""Executes MiniDB SQL against in-memory tables."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from __PKG__.parser import Condition, parse
from __PKG__.table import Table

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _predicate(conditions: tuple[Condition, ...]) -> Callable[[dict[str, Any]], bool]:
    def match(row: dict[str, Any]) -> bool:
        for c in conditions:
            value = row[c.column]
            if value is None or c.value is None:  # comparisons with NULL are never true
                return False
            if not OPS[c.op](value, c.value):
                return False
        return True

    return match


class Database:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}

    def execute(self, sql: str) -> Any:
        """Rows (tuples) for SELECT, the number of rows touched otherwise."""
        stmt = parse(sql)
        if stmt.kind == "create":
            if stmt.table in self.tables:
                raise ValueError(f"table {stmt.table} already exists")
            self.tables[stmt.table] = Table(stmt.table, zip(stmt.columns, stmt.types, strict=True))
            return 0
        table = self.tables.get(stmt.table)
        if table is None:
            raise KeyError(f"no such table: {stmt.table}")
        for c in stmt.where:
            if c.column not in table.columns:
                raise KeyError(f"no such column: {c.column}")
        match = _predicate(stmt.where)
        if stmt.kind == "insert":
            table.insert(dict(zip(stmt.columns, stmt.values, strict=True)))
            return 1
        if stmt.kind == "update":
            return table.update(dict(zip(stmt.columns, stmt.values, strict=True)), match)
        if stmt.kind == "delete":
            return table.delete(match)
        columns = list(table.columns) if stmt.columns == ("*",) else list(stmt.columns)
        rows = table.select(match, stmt.order_by, stmt.descending, stmt.limit)
        return [tuple(row[c] for c in columns) for row in rows]
''', '''
import pytest

from __PKG__.engine import Database


def _db():
    db = Database()
    db.execute("CREATE TABLE users (id INTEGER, name TEXT, score REAL)")
    for i, (name, score) in enumerate([("ann", 3.5), ("bob", 7), ("cy", 1)], start=1):
        sql = f"INSERT INTO users (id, name, score) VALUES ({i}, '{name}', {score})"
        assert db.execute(sql) == 1
    db.execute("INSERT INTO users (id, name) VALUES (4, 'dee')")
    return db


def test_select_star_in_order():
    rows = _db().execute("SELECT * FROM users WHERE score > 2 ORDER BY score DESC")
    assert rows == [(2, "bob", 7), (1, "ann", 3.5)]


def test_null_never_compares_true():
    db = _db()
    assert db.execute("SELECT name FROM users WHERE score <> 1") == [("ann",), ("bob",)]


def test_update_and_delete_count_rows():
    db = _db()
    assert db.execute("UPDATE users SET score = 0 WHERE id >= 3") == 2
    assert db.execute("DELETE FROM users WHERE score = 0") == 2
    assert db.execute("SELECT id FROM users LIMIT 1") == [(1,)]


def test_unknown_table_and_column():
    db = _db()
    with pytest.raises(KeyError):
        db.execute("SELECT * FROM nope")
    with pytest.raises(KeyError):
        db.execute("DELETE FROM users WHERE age = 3")
    with pytest.raises(ValueError):
        db.execute("CREATE TABLE users (id INTEGER)")
''')

INDEX = ('''
"""Secondary indexes: a column's values mapped to row ids, scanned in value order."""

from __future__ import annotations

from typing import Any

from __PKG__.pages import PageStore


class Index:
    def __init__(self, column: str):
        self.column = column
        self.store = PageStore(page_size=32)

    def add(self, value: Any, row_id: int) -> None:
        ids = self.store.get(value)
        if ids is None:
            self.store.put(value, {row_id})
        else:
            ids.add(row_id)

    def remove(self, value: Any, row_id: int) -> bool:
        ids = self.store.get(value)
        if not ids or row_id not in ids:
            return False
        ids.discard(row_id)
        if not ids:
            self.store.delete(value)
        return True

    def lookup(self, value: Any) -> set[int]:
        return set(self.store.get(value) or ())

    def scan(self, low: Any = None, high: Any = None) -> list[int]:
        """Row ids whose value is in [low, high), in value order."""
        return [row for _, ids in self.store.range(low, high) for row in sorted(ids)]
''', '''
from __PKG__.index import Index


def test_lookup_and_scan():
    index = Index("age")
    for row_id, age in enumerate([30, 20, 30, 40]):
        index.add(age, row_id)
    assert index.lookup(30) == {0, 2}
    assert index.scan(20, 35) == [1, 0, 2]
    assert index.lookup(99) == set()


def test_remove_drops_empty_values():
    index = Index("age")
    index.add(5, 1)
    assert index.remove(5, 1) and not index.remove(5, 1)
    assert len(index.store) == 0
''')

INTERFACES = ('''
"""The contracts between MiniDB components, as structural types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Storage(Protocol):
    def get(self, key: Any, default: Any = None) -> Any: ...

    def put(self, key: Any, value: Any) -> bool: ...

    def delete(self, key: Any) -> bool: ...

    def range(self, low: Any = None, high: Any = None) -> Iterator[tuple[Any, Any]]: ...


@runtime_checkable
class AggregateFunction(Protocol):
    def step(self, value: Any) -> None: ...

    def finalize(self) -> Any: ...
''', '''
from __PKG__.interfaces import AggregateFunction, Storage


class _DictStorage:
    def __init__(self):
        self.data = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def put(self, key, value):
        new = key not in self.data
        self.data[key] = value
        return new

    def delete(self, key):
        return self.data.pop(key, None) is not None

    def range(self, low=None, high=None):
        return iter(sorted(self.data.items()))


def test_storage_shape():
    assert isinstance(_DictStorage(), Storage)
    assert not isinstance({}, Storage)


def test_aggregate_shape():
    class Count:
        def step(self, value):
            pass

        def finalize(self):
            return 0

    assert isinstance(Count(), AggregateFunction)
    assert not isinstance(Count(), Storage)
''')

PROPERTIES_PAGES = '''
import random

from __PKG__.pages import PageStore


def test_page_store_behaves_like_a_sorted_dict():
    rng = random.Random(5)
    store, model = PageStore(page_size=4), {}
    for _ in range(2000):
        key = rng.randrange(300)
        if rng.random() < 0.6:
            assert store.put(key, key * 2) == (key not in model)
            model[key] = key * 2
        else:
            assert store.delete(key) == (model.pop(key, None) is not None)
        assert len(store) == len(model)
    assert list(store.range()) == sorted(model.items())
    low, high = 50, 150
    expected = [(k, v) for k, v in sorted(model.items()) if low <= k < high]
    assert list(store.range(low, high)) == expected
'''

PROPERTIES_TXLOG = '''
import random

from __PKG__.txlog import TransactionLog, loads, replay


def test_replay_equals_the_committed_model():
    rng = random.Random(6)
    log, model = TransactionLog(), {}
    for _ in range(200):
        tx = log.begin()
        writes = {f"k{rng.randrange(20)}": rng.choice([None, rng.randrange(100)])
                  for _ in range(rng.randint(1, 4))}
        for key, value in writes.items():
            log.write(tx, key, value)
        if rng.random() < 0.7:
            log.commit(tx)
            for key, value in writes.items():
                if value is None:
                    model.pop(key, None)
                else:
                    model[key] = value
        else:
            log.rollback(tx)
    assert replay(loads(log.dumps())) == model
'''


def catalog() -> list[Unit]:
    units = [scaffold(INFO)]
    for name, (source, test), deps in (("pages", PAGES, ()), ("tokenizer", TOKENIZER, ()),
                                       ("parser", PARSER, ("tokenizer",)), ("txlog", TXLOG, ()),
                                       ("table", TABLE, ())):
        units.append(code_unit(PKG, f"core.{name}", name, source, test, stage=0, deps=deps,
                               summary=f"minidb.{name}: {dict(INFO.components)[name]}"))
    units.append(code_unit(PKG, "core.interfaces", "interfaces", *INTERFACES, stage=0,
                           owner="Architect", title="define the component interfaces",
                           summary="interfaces: Storage and AggregateFunction protocols"))
    units.append(code_unit(PKG, "core.engine", "engine", *ENGINE, stage=1,
                           deps=("parser", "tokenizer", "table"),
                           summary="engine.Database.execute(sql) runs statements on tables"))
    units.append(code_unit(PKG, "core.index", "index", *INDEX, stage=1, deps=("pages",),
                           summary="index.Index maps column values to row ids"))
    units += sql_functions.units(PKG)
    units += family_codecs.units(PKG)
    units += family_resilience.units(PKG)
    units += family_widgets.units(PKG)
    units += family_hardening.units(PKG)
    units.append(suite_unit(PKG, "test.properties.pages", "properties_pages", PROPERTIES_PAGES,
                            stage=1, owner="Tester", deps=("pages",),
                            title="property-test the page store"))
    units.append(suite_unit(PKG, "test.properties.txlog", "properties_txlog", PROPERTIES_TXLOG,
                            stage=2, owner="Tester", deps=("txlog",),
                            title="property-test the transaction log"))
    units += role_units(INFO)
    return units
