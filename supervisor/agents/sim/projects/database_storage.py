"""MiniDB storage modules: sorted-page store, transaction log, typed tables."""

from __future__ import annotations

PAGES = ('''
"""A sorted-page store: keys kept in order in fixed-capacity pages.

Like the leaf level of a B+tree: a lookup bisects the pages' first keys, then the page;
a full page splits in two; an emptied page is dropped.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any


class PageStore:
    def __init__(self, page_size: int = 64):
        if page_size < 2:
            raise ValueError("page_size must be >= 2")
        self.page_size = page_size
        self._keys: list[list[Any]] = [[]]
        self._values: list[list[Any]] = [[]]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def page_count(self) -> int:
        return len(self._keys)

    def _page(self, key: Any) -> int:
        firsts = [page[0] for page in self._keys[1:]]
        return bisect.bisect_right(firsts, key)

    def get(self, key: Any, default: Any = None) -> Any:
        p = self._page(key)
        keys = self._keys[p]
        i = bisect.bisect_left(keys, key)
        return self._values[p][i] if i < len(keys) and keys[i] == key else default

    def __contains__(self, key: Any) -> bool:
        marker = object()
        return self.get(key, marker) is not marker

    def put(self, key: Any, value: Any) -> bool:
        """Insert or replace; True if the key is new."""
        p = self._page(key)
        keys, values = self._keys[p], self._values[p]
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            values[i] = value
            return False
        keys.insert(i, key)
        values.insert(i, value)
        self._size += 1
        if len(keys) > self.page_size:
            half = len(keys) // 2
            self._keys[p + 1 : p + 1] = [keys[half:]]
            self._values[p + 1 : p + 1] = [values[half:]]
            del keys[half:], values[half:]
        return True

    def delete(self, key: Any) -> bool:
        p = self._page(key)
        keys, values = self._keys[p], self._values[p]
        i = bisect.bisect_left(keys, key)
        if i == len(keys) or keys[i] != key:
            return False
        del keys[i], values[i]
        self._size -= 1
        if not keys and len(self._keys) > 1:
            del self._keys[p], self._values[p]
        return True

    def range(self, low: Any = None, high: Any = None) -> Iterator[tuple[Any, Any]]:
        """(key, value) pairs with low <= key < high, in key order (None: unbounded)."""
        start = 0 if low is None else self._page(low)
        for keys, values in zip(self._keys[start:], self._values[start:], strict=True):
            for key, value in zip(keys, values, strict=True):
                if low is not None and key < low:
                    continue
                if high is not None and key >= high:
                    return
                yield key, value

    def __iter__(self) -> Iterator[Any]:
        return (key for key, _ in self.range())
''', '''
import pytest

from __PKG__.pages import PageStore


def test_put_get_replace():
    store = PageStore(page_size=4)
    assert store.put(3, "c") is True
    assert store.put(3, "C") is False
    assert store.get(3) == "C" and store.get(9) is None and len(store) == 1


def test_pages_split_and_stay_sorted():
    store = PageStore(page_size=4)
    for key in [50, 10, 40, 20, 30, 60, 70, 5, 55]:
        store.put(key, str(key))
    assert store.page_count > 1
    assert list(store) == sorted([50, 10, 40, 20, 30, 60, 70, 5, 55])


def test_range_is_half_open():
    store = PageStore(page_size=3)
    for key in range(20):
        store.put(key, key * key)
    assert list(store.range(5, 8)) == [(5, 25), (6, 36), (7, 49)]
    assert [k for k, _ in store.range(high=2)] == [0, 1]


def test_delete_drops_empty_pages():
    store = PageStore(page_size=2)
    for key in range(6):
        store.put(key, key)
    pages = store.page_count
    for key in (0, 1):
        assert store.delete(key)
    assert not store.delete(0)
    assert store.page_count < pages and 0 not in store and 2 in store


def test_rejects_tiny_pages():
    with pytest.raises(ValueError):
        PageStore(page_size=1)
''')


TXLOG = ('''
"""A write-ahead transaction log: only committed transactions survive a replay."""

from __future__ import annotations

import itertools
import json
from typing import Any


class TransactionLog:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._open: set[int] = set()

    def begin(self) -> int:
        tx = next(self._ids)
        self._open.add(tx)
        self.records.append({"op": "begin", "tx": tx})
        return tx

    def _check(self, tx: int) -> None:
        if tx not in self._open:
            raise ValueError(f"transaction {tx} is not open")

    def write(self, tx: int, key: str, value: Any) -> None:
        """Record ``key = value`` (None deletes the key) inside ``tx``."""
        self._check(tx)
        self.records.append({"op": "write", "tx": tx, "key": key, "value": value})

    def commit(self, tx: int) -> None:
        self._check(tx)
        self._open.discard(tx)
        self.records.append({"op": "commit", "tx": tx})

    def rollback(self, tx: int) -> None:
        self._check(tx)
        self._open.discard(tx)
        self.records.append({"op": "rollback", "tx": tx})

    def dumps(self) -> str:
        """The log as JSON lines."""
        return "".join(json.dumps(r, sort_keys=True) + "\\n" for r in self.records)


def loads(text: str) -> list[dict[str, Any]]:
    """Records from JSON lines; a torn last line (a crash mid-write) is ignored."""
    records = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"corrupt log record on line {number}") from None
    return records


def replay(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The state the committed transactions leave, applied in commit order."""
    pending: dict[int, list[tuple[str, Any]]] = {}
    state: dict[str, Any] = {}
    for record in records:
        tx = record["tx"]
        if record["op"] == "begin":
            pending[tx] = []
        elif record["op"] == "write":
            pending[tx].append((record["key"], record["value"]))
        elif record["op"] == "commit":
            for key, value in pending.pop(tx):
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value
        elif record["op"] == "rollback":
            pending.pop(tx, None)
    return state
''', '''
import pytest

from __PKG__.txlog import TransactionLog, loads, replay


def test_only_committed_writes_survive():
    log = TransactionLog()
    a, b = log.begin(), log.begin()
    log.write(a, "x", 1)
    log.write(b, "y", 2)
    log.commit(a)
    log.rollback(b)
    c = log.begin()
    log.write(c, "z", 3)  # never committed
    assert replay(log.records) == {"x": 1}


def test_none_deletes_a_key():
    log = TransactionLog()
    for value in (5, None):
        tx = log.begin()
        log.write(tx, "k", value)
        log.commit(tx)
    assert replay(log.records) == {}


def test_json_lines_round_trip_and_torn_tail():
    log = TransactionLog()
    tx = log.begin()
    log.write(tx, "k", "v")
    log.commit(tx)
    text = log.dumps()
    assert loads(text) == log.records
    assert replay(loads(text + '{"op": "be')) == {"k": "v"}
    with pytest.raises(ValueError):
        loads('{"op": "be\\n' + text)


def test_closed_transactions_refuse_writes():
    log = TransactionLog()
    tx = log.begin()
    log.commit(tx)
    with pytest.raises(ValueError):
        log.write(tx, "k", 1)
''')


TABLE = ('''
"""Tables: typed columns, rows as dicts, filtering and ordering."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "INTEGER": (int,),
    "REAL": (int, float),
    "TEXT": (str,),
    "BOOLEAN": (bool,),
}


class Table:
    def __init__(self, name: str, columns: Iterable[tuple[str, str]]):
        self.name = name
        self.columns = dict(columns)
        for column, kind in self.columns.items():
            if kind not in TYPES:
                raise ValueError(f"column {column}: unknown type {kind}")
        self.rows: list[dict[str, Any]] = []

    def _check(self, column: str, value: Any) -> None:
        if column not in self.columns:
            raise KeyError(f"table {self.name} has no column {column}")
        kind = self.columns[column]
        if value is None:
            return
        if isinstance(value, bool) and kind != "BOOLEAN":
            raise TypeError(f"{column} is {kind}, got a boolean")
        if not isinstance(value, TYPES[kind]):
            raise TypeError(f"{column} is {kind}, got {type(value).__name__}")

    def insert(self, row: dict[str, Any]) -> None:
        for column, value in row.items():
            self._check(column, value)
        self.rows.append({c: row.get(c) for c in self.columns})

    def select(self, where: Callable[[dict[str, Any]], bool] | None = None,
               order_by: str | None = None, descending: bool = False,
               limit: int | None = None) -> list[dict[str, Any]]:
        rows = [r for r in self.rows if where is None or where(r)]
        if order_by is not None:
            present = [r for r in rows if r[order_by] is not None]
            missing = [r for r in rows if r[order_by] is None]
            rows = sorted(present, key=lambda r: r[order_by], reverse=descending) + missing
        return rows if limit is None else rows[:limit]

    def update(self, changes: dict[str, Any], where: Callable[[dict[str, Any]], bool]) -> int:
        for column, value in changes.items():
            self._check(column, value)
        count = 0
        for row in self.rows:
            if where(row):
                row.update(changes)
                count += 1
        return count

    def delete(self, where: Callable[[dict[str, Any]], bool]) -> int:
        before = len(self.rows)
        self.rows = [r for r in self.rows if not where(r)]
        return before - len(self.rows)
''', '''
import pytest

from __PKG__.table import Table


def _people():
    table = Table("people", [("id", "INTEGER"), ("name", "TEXT"), ("score", "REAL")])
    for i, (name, score) in enumerate([("ann", 3.5), ("bob", None), ("cy", 9)], start=1):
        table.insert({"id": i, "name": name, "score": score})
    return table


def test_select_with_filter_order_and_limit():
    rows = _people().select(where=lambda r: r["id"] > 1, order_by="score", descending=True)
    assert [r["name"] for r in rows] == ["cy", "bob"]
    assert len(_people().select(limit=2)) == 2


def test_types_are_enforced():
    table = _people()
    with pytest.raises(TypeError):
        table.insert({"id": "4"})
    with pytest.raises(TypeError):
        table.insert({"id": True})
    with pytest.raises(KeyError):
        table.insert({"age": 3})


def test_update_and_delete_count_rows():
    table = _people()
    assert table.update({"score": 1.0}, lambda r: r["score"] is None) == 1
    assert table.delete(lambda r: r["score"] < 5) == 2
    assert [r["name"] for r in table.rows] == ["cy"]
''')
