"""Sweep result store: SQLite in WAL mode, one row per finished design point.

Results are committed as soon as they reach the sweep's process: a chunk of points that a
worker ran together arrives together and is committed in one transaction (`put_many`), so a
run killed with SIGKILL loses nothing that had finished; `--resume` asks `done_keys()` and
skips them.
Several processes may write the same store at once: WAL journaling plus a busy
timeout serialise the writers, and `INSERT OR IGNORE` on the point key makes a
point written twice (two sweeps racing) keep its first, identical, result.

The file says what it is: `PRAGMA user_version` holds `SCHEMA_VERSION`. A store written by
an older lowbit (other point keys), or a SQLite file of something else, is refused with one
clear error instead of being mixed into. A write that fails (a full disk, a file-size limit)
is an error naming the store; every point committed before it stays (each put, and each
put_many, is its own transaction: all of its points or none).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from lowbit.kernels_ref.errors import InvalidSpecError, LowbitError

__all__ = ["SCHEMA_VERSION", "ResultStore"]

#: 2: point keys include the space name (stores may be shared between spaces).
#: 1 (user_version 0): the first lowbit stores, keys without the space name.
SCHEMA_VERSION = 2
_COLUMNS = {"points": ["key", "sweep", "point", "result"], "meta": ["name", "value"]}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    point TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class ResultStore:
    """A SQLite file of (key -> point, result) rows. Use as a context manager."""

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None

    # --------------------------------------------------------------- lifecycle
    def open(self) -> ResultStore:
        if self._conn is None:
            # Switching to WAL and creating the schema take a write lock; a second process doing
            # the same at that moment can get "database is locked" without SQLite's busy handler
            # retrying, so the open itself is retried until timeout_s.
            deadline = time.monotonic() + self.timeout_s
            while True:
                conn = None
                try:
                    conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    self._check_or_create(conn)
                    break
                except sqlite3.OperationalError as exc:
                    if conn is not None:
                        conn.close()
                    if "locked" in str(exc) and time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                    raise InvalidSpecError(f"{self.path}: not a usable lowbit result store ({exc})") from None
                except (sqlite3.DatabaseError, InvalidSpecError) as exc:
                    if conn is not None:
                        conn.close()
                    if isinstance(exc, InvalidSpecError):
                        raise
                    raise InvalidSpecError(f"{self.path}: not a usable lowbit result store ({exc})") from None
            self._conn = conn
        return self

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        """Create the schema in an empty file; refuse an older schema or a foreign database."""
        def tables() -> set[str]:
            return {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}

        if tables():  # an existing store is only read here (a read-only file opens too)
            self._check_schema(conn, tables())
            return
        conn.execute("BEGIN IMMEDIATE")  # one creator at a time; the others then see the schema
        try:
            if tables():
                self._check_schema(conn, tables())
            else:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _check_schema(self, conn: sqlite3.Connection, tables: set[str]) -> None:
        cols = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in _COLUMNS if t in tables}
        if cols != _COLUMNS or tables - set(_COLUMNS):
            raise InvalidSpecError(
                f"{self.path}: a SQLite database but not a lowbit result store (tables: "
                f"{', '.join(sorted(tables))[:200]}); give --db a new file")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            age = "an older" if version < SCHEMA_VERSION else "a newer"
            raise InvalidSpecError(
                f"{self.path}: a result store of {age} lowbit (schema {max(version, 1)}, this "
                f"one reads schema {SCHEMA_VERSION}: point keys now include the space name); "
                "give --db a new file and rerun the sweep")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.open()._conn  # type: ignore[return-value]

    # ------------------------------------------------------------------- rows
    def put(self, key: str, sweep: str, point: dict[str, Any], result: dict[str, Any]) -> bool:
        """Commit one finished point; False if the key was already there. A failed write (disk
        full, file-size limit, read-only file) is a LowbitError naming the store; the points
        committed before it stay."""
        row = (key, sweep, json.dumps(point, sort_keys=True), json.dumps(result, sort_keys=True))
        with self._writing():
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO points(key, sweep, point, result) VALUES (?, ?, ?, ?)", row)
        return cur.rowcount == 1

    def put_many(self, rows: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> list[bool]:
        """Commit finished points (key, sweep, point, result) in one transaction: all of them or,
        if the write fails, none (a LowbitError naming the store, as `put`'s). Per row, False if
        its key was already there."""
        enc = [(k, sw, json.dumps(p, sort_keys=True), json.dumps(r, sort_keys=True)) for k, sw, p, r in rows]
        if not enc:
            return []
        conn = self.conn
        with self._writing():
            conn.execute("BEGIN IMMEDIATE")
            try:
                new = [conn.execute("INSERT OR IGNORE INTO points(key, sweep, point, result) VALUES (?, ?, ?, ?)",
                                    row).rowcount == 1 for row in enc]
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return new

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):  # past the busy timeout: another writer held it that long
                raise LowbitError(f"{self.path}: store stayed locked by another writer for over "
                                  f"{self.timeout_s:g} s") from None
            raise LowbitError(f"{self.path}: cannot write the result store ({exc}); the points "
                              f"committed before this one are kept, --resume continues") from None
        except sqlite3.DatabaseError as exc:
            raise LowbitError(f"{self.path}: cannot write the result store ({exc})") from None

    def done_keys(self, sweep: str | None = None) -> set[str]:
        if sweep is None:
            rows = self.conn.execute("SELECT key FROM points")
        else:
            rows = self.conn.execute("SELECT key FROM points WHERE sweep = ?", (sweep,))
        return {r[0] for r in rows}

    def rows(self, sweep: str | None = None) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        q = "SELECT key, point, result FROM points"
        args: tuple[Any, ...] = ()
        if sweep is not None:
            q += " WHERE sweep = ?"
            args = (sweep,)
        for key, p, r in self.conn.execute(q + " ORDER BY key", args):
            yield key, json.loads(p), json.loads(r)

    def results(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """key -> result for those of `keys` the store holds."""
        keys = list(keys)
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[i:i + 500]
            q = f"SELECT key, result FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            out.update((k, json.loads(r)) for k, r in self.conn.execute(q, chunk))
        return out

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def set_meta(self, items: Iterable[tuple[str, Any]]) -> None:
        with self._writing():
            self.conn.executemany("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)",
                                  [(k, json.dumps(v, sort_keys=True)) for k, v in items])

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT name, value FROM meta")}

    def snapshot(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """Every row, ordered by key: two stores with equal snapshots hold equal results."""
        return list(self.rows())
