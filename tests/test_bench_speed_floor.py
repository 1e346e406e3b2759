"""bench/speed_floor.py finds exactly the rows a command wrote (by xmin) and stores them again as they were."""

import pytest
from django.db import connection

from bench.speed_floor import connect, least_wall, next_xid, store, written_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probe_table():
    """A table of the test database, written through the bench's own (superuser) connection, as a command's
    rows would be; a generated column, which a statement may not write."""
    db = connection.settings_dict["NAME"]
    with connect(db) as conn:
        conn.execute("CREATE TABLE floor_probe (id bigint PRIMARY KEY, v text NOT NULL, "
                     "n integer GENERATED ALWAYS AS (length(v)) STORED)")
        conn.execute("INSERT INTO floor_probe (id, v) VALUES (1, 'kept'), (2, 'before')")
    yield db
    with connect(db) as conn:
        conn.execute("DROP TABLE floor_probe")


def content(db):
    with connect(db) as conn:
        return conn.execute("SELECT id, v, n FROM floor_probe ORDER BY id").fetchall()


def test_the_rows_written_after_the_mark_are_stored_again_as_they_were(probe_table):
    db = probe_table
    mark = next_xid(db)
    with connect(db) as conn:
        conn.execute("INSERT INTO floor_probe (id, v) VALUES (3, 'new')")
        conn.execute("UPDATE floor_probe SET v = 'after' WHERE id = 2")
    after = content(db)
    rows = written_rows(db, mark)
    assert list(rows) == ["floor_probe"]  # nothing else was written since the mark
    # Back to the state before the mark, as the copy of the database the command started from would be.
    with connect(db) as conn:
        conn.execute("DELETE FROM floor_probe WHERE id = 3")
        conn.execute("UPDATE floor_probe SET v = 'before' WHERE id = 2")
    stored = store(db, rows)
    assert stored["rows"] == {"floor_probe": {"inserted": 1, "updated": 1}}
    assert stored["postgres_cpu"] >= 0 and stored["seconds"] > 0
    assert content(db) == after == [(1, "kept", 4), (2, "after", 5), (3, "new", 3)]


def test_least_wall_time_is_the_larger_of_the_spread_and_the_largest_single_part(monkeypatch):
    monkeypatch.setattr("bench.speed_floor.os.cpu_count", lambda: 2)
    assert least_wall(0.5, {"postgres": 10.0, "reader": 1.0}, ["postgres", "reader"]) == 10.5  # one backend
    assert least_wall(0.0, {"a": 6.0, "b": 4.0, "c": 4.0}, ["a"]) == 7.0  # 14 CPU-s over two cores
