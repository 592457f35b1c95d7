"""An application writer for the fix tests: a thread that INSERTs, UPDATEs and DELETEs rows of a table
while a fix or a rollback runs, and remembers the last value it wrote per key (its writes are the ones
heal must never lose or overwrite) and every error it saw (heal must cause none)."""

from __future__ import annotations

import random
import threading
import time

import psycopg
from psycopg import sql


class Writer(threading.Thread):
    def __init__(self, dsn: str, schema: str, table: str, key: str, column: str, *, keys: range,
                 value=lambda n: str(n), insert_from: int | None = None, pause_s: float = 0.002,
                 delete_every: int = 0, seed: int = 7):
        super().__init__(daemon=True)
        self.dsn, self.keys, self.value, self.pause_s = dsn, keys, value, pause_s
        self.t = sql.Identifier(schema, table)
        self.k, self.c = sql.Identifier(key), sql.Identifier(column)
        self.next_insert = insert_from
        self.delete_every = delete_every
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.written: dict[int, str] = {}  # key -> last value committed by the application
        self.deleted: set[int] = set()
        self.errors: list[str] = []
        self.ops = 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            while not self.stop_event.is_set():
                self.ops += 1
                n = self.rng.randint(1, 90)
                try:
                    if self.next_insert is not None and self.ops % 5 == 0:
                        k = self.next_insert
                        self.next_insert += 1
                        conn.execute(sql.SQL("INSERT INTO {} ({}, {}) VALUES (%s, {})").format(
                            self.t, self.k, self.c, sql.Literal(self.value(n))), (k,))
                        self.written[k] = self.value(n)
                    elif self.delete_every and self.ops % self.delete_every == 0:
                        k = self.rng.choice(self.keys)
                        conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(self.t, self.k), (k,))
                        self.deleted.add(k)
                        self.written.pop(k, None)
                    else:
                        k = self.rng.choice(self.keys)
                        if k in self.deleted:
                            continue
                        # an untyped literal: the statement is valid before and after int<->text fixes
                        cur = conn.execute(sql.SQL("UPDATE {} SET {} = {} WHERE {} = %s").format(
                            self.t, self.c, sql.Literal(self.value(n)), self.k), (k,))
                        if cur.rowcount:
                            self.written[k] = self.value(n)
                except psycopg.Error as exc:
                    self.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                time.sleep(self.pause_s)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)
