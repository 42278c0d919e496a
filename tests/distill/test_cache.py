import sqlite3

import numpy as np

from distill.labeling.cache import LabelCache, text_hash
from distill.teachers.base import Scored


def test_roundtrip_keys_and_wal(tmp_path):
    db = tmp_path / "c.sqlite"
    with LabelCache(db) as c:
        assert c.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        h1, h2 = text_hash("a"), text_hash("b")
        c.put_many("T", "P", [(h1, Scored(np.array([0.2, 0.8]))), (h2, Scored(np.array([0.5, 0.5]), "abstained", "??"))])
        c.put_many("T", "P", [(h1, Scored(np.array([0.9, 0.1])))])  # existing key kept, not duplicated
        c.put_many("T", "P2", [(h1, Scored(np.array([0.6, 0.4])))])  # another prompt: another key
        got = c.get_many("T", "P", [h1, h2, text_hash("c")])
        assert set(got) == {h1, h2}
        np.testing.assert_allclose(got[h1].probs, [0.2, 0.8])
        assert got[h2].source == "abstained" and got[h2].answer == "??"
        assert c.count("T", "P") == 2 and c.count("T") == 3 and c.count("other") == 0
    # committed data is visible to a fresh connection (another process)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 3
    con.close()


def test_meta_and_many_keys(tmp_path):
    with LabelCache(tmp_path / "c.sqlite") as c:
        items = [(text_hash(str(i)), Scored(np.array([1.0, 0.0]))) for i in range(1200)]
        c.put_many("T", "P", items)
        assert len(c.get_many("T", "P", [h for h, _ in items])) == 1200
        c.set_meta("k", {"a": 1})
        assert c.get_meta("k") == {"a": 1} and c.get_meta("nope", 5) == 5
