"""SQLite cache of raw teacher outputs, keyed by (teacher fingerprint, prompt hash, text hash).

WAL journal, ``synchronous=NORMAL``: a committed batch survives the process being killed (even
SIGKILL); an uncommitted batch is simply redone. Probabilities are stored *raw* (uncalibrated),
so changing the calibration never relabels anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from core.errors import UserError
from distill.teachers.base import Scored

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    teacher   TEXT NOT NULL,
    prompt    TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    probs     TEXT NOT NULL,
    source    TEXT NOT NULL,
    answer    TEXT,
    created   REAL NOT NULL,
    PRIMARY KEY (teacher, prompt, text_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LabelCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not self.path.is_file():
                raise UserError(f"label cache {self.path} is not a usable SQLite database ({exc})") from None
            # damaged (truncated, overwritten): set it aside, report it, and score again
            with contextlib.suppress(Exception):
                self.db.close()
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(self.path) + suffix)
            print(f"warning: label cache {self.path} was damaged ({exc}); moved it to {aside.name}, "
                  f"its texts are scored again", file=sys.stderr, flush=True)
            try:
                self._open()
            except sqlite3.DatabaseError as exc2:
                raise UserError(f"label cache {self.path} is not a usable SQLite database ({exc2})") from None

    def _open(self) -> None:
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(labels)")}
        if "reason" not in cols:  # caches written before abstentions carried their reason
            self.db.execute("ALTER TABLE labels ADD COLUMN reason TEXT")

    # -------------------------------------------------------------------------------- reads
    def get_many(self, teacher: str, prompt: str, hashes: Iterable[str]) -> dict[str, Scored]:
        out: dict[str, Scored] = {}
        hashes = list(dict.fromkeys(hashes))
        for s in range(0, len(hashes), 500):
            part = hashes[s : s + 500]
            q = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT text_hash, probs, source, answer, reason FROM labels WHERE teacher=? AND prompt=? "
                f"AND text_hash IN ({q})",
                [teacher, prompt, *part],
            ).fetchall()
            for h, probs, source, answer, reason in rows:
                out[h] = Scored(np.asarray(json.loads(probs), dtype=np.float64), source, answer, reason=reason)
        return out

    def count(self, teacher: str | None = None, prompt: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM labels", []
        if teacher is not None:
            sql += " WHERE teacher=?" + (" AND prompt=?" if prompt is not None else "")
            args = [teacher] + ([prompt] if prompt is not None else [])
        return int(self.db.execute(sql, args).fetchone()[0])

    def hashes(self, teacher: str, prompt: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT text_hash FROM labels WHERE teacher=? AND prompt=?", (teacher, prompt))]

    # -------------------------------------------------------------------------------- writes
    def put_many(self, teacher: str, prompt: str, items: Iterable[tuple[str, Scored]]) -> int:
        """Insert a batch in ONE transaction (committed before returning). Existing keys are kept."""
        now = time.time()
        rows = [
            (teacher, prompt, h, json.dumps([float(x) for x in r.probs]), r.source, r.answer,
             getattr(r, "reason", None), now)
            for h, r in items
        ]
        if not rows:
            return 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR IGNORE INTO labels (teacher, prompt, text_hash, probs, source, answer, reason, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(rows)

    def set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
