"""`MemoryStore`: the fallback in one process's memory stays bounded (its semantics are the
other stores', tested through the API in test_api.py with `local=True`)."""

from balances.shared_state import memory
from balances.shared_state.memory import MemoryStore


def test_expired_entries_are_swept_once_the_store_is_large(monkeypatch):
    monkeypatch.setattr(memory, "SWEEP_AT", 10)
    store = MemoryStore()
    for n in range(11):
        store.set(f"old-{n}", "1", -1)  # already expired
    assert len(store._state) == 11
    store.set("new", "1", 60)
    assert list(store._state) == ["new"]
    assert store.remaining("new") > 0


def test_refused_takes_are_lined_up_when_asked():
    store = MemoryStore()
    assert store.take([("k", 2)], 60, space=True) == 0
    assert store.take([("k", 2)], 60, space=True) == 0
    first = store.take([("k", 2)], 60, space=True)
    second = store.take([("k", 2)], 60, space=True)
    assert 59 < first <= 60
    assert 29 < second - first <= 31  # one 60 s / 2 after the one before
    assert store.take([("k", 2)], 60) <= first  # unasked, the wait is the window's own
