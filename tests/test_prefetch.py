"""Reading the next chunk in a reader thread (fastem.data.prefetch): same chunks in the same
order, bit-identical fits, errors re-raised as they were, no thread left behind, and at most
two chunks alive at a time."""
from __future__ import annotations

import contextlib
import gc
import threading
import time

import numpy as np
import pytest

import fastem
from fastem.data import open_source
from fastem.data import prefetch
from fastem.data.npy import NpyAdapter
from fastem.data.prefetch import pass_chunks, prefetched


def _reader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fastem-prefetch")]


class Item:
    """A chunk stand-in that counts how many of its kind are alive."""

    alive = 0
    peak = 0
    lock = threading.Lock()

    def __init__(self, i: int) -> None:
        self.i = i
        with Item.lock:
            Item.alive += 1
            Item.peak = max(Item.peak, Item.alive)

    def __del__(self) -> None:
        with Item.lock:
            Item.alive -= 1


@pytest.fixture
def counted():
    gc.collect()
    Item.alive = Item.peak = 0
    yield Item
    gc.collect()


def test_yields_every_item_in_order():
    assert list(prefetched(lambda: iter(range(100)))) == list(range(100))
    assert list(prefetched(lambda: iter([]))) == []
    assert not _reader_threads()


def test_reads_in_another_thread_one_item_ahead(counted):
    seen_in = []
    created = []

    def make():
        for i in range(4):
            seen_in.append(threading.current_thread().name)
            created.append(i)
            yield Item(i)

    gen = prefetched(make)
    first = next(gen)
    deadline = time.monotonic() + 5
    while len(created) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    # While the caller holds item 0, item 1 is read, but not item 2 (two alive at most).
    time.sleep(0.05)
    assert created == [0, 1], created
    assert first.i == 0
    del first
    assert [it.i for it in gen] == [1, 2, 3]
    assert set(seen_in) == {"fastem-prefetch"}


def test_at_most_two_items_alive(counted):
    def make():
        for i in range(30):
            yield Item(i)

    got = []
    for item in prefetched(make):
        time.sleep(0.002)           # the "kernel": the reader runs ahead meanwhile
        got.append(item.i)
    assert got == list(range(30))
    assert counted.peak <= 2, counted.peak
    assert counted.peak == 2        # and it did read ahead


def test_caller_keeping_every_item_does_not_stall(counted):
    kept = list(prefetched(lambda: (Item(i) for i in range(10))))
    assert [it.i for it in kept] == list(range(10))


def test_reader_error_is_raised_in_caller_with_its_message():
    class Bad(Exception):
        pass

    def make():
        yield 1
        yield 2
        raise Bad("chunk 2 of 'x.npy' could not be read: disk on fire")

    got = []
    with pytest.raises(Bad, match=r"^chunk 2 of 'x.npy' could not be read: disk on fire$"):
        for item in prefetched(make):
            got.append(item)
    assert got == [1, 2]
    assert not _reader_threads()


def test_error_in_make_iter_itself_propagates():
    def make():
        raise FileNotFoundError("No such file or directory: 'gone.npy'.")

    with pytest.raises(FileNotFoundError, match="gone.npy"):
        list(prefetched(make))
    assert not _reader_threads()


@pytest.mark.parametrize("how", ["close", "break", "caller_raises", "drop"])
def test_no_thread_left_after_early_end(how):
    closed = threading.Event()

    def make():
        try:
            for i in range(1000):
                yield np.full(10, i)
        finally:
            closed.set()            # the wrapped generator is closed, in the reader

    gen = prefetched(make)
    if how == "close":
        next(gen)
        gen.close()
    elif how == "break":
        with contextlib.closing(gen) as chunks:
            for i, _ in enumerate(chunks):
                if i == 3:
                    break
    elif how == "caller_raises":
        with pytest.raises(ZeroDivisionError):
            with contextlib.closing(gen) as chunks:
                for _ in chunks:
                    1 / 0
    else:
        next(gen)
        del gen
        gc.collect()
    assert closed.wait(5)
    assert not _reader_threads()


# ------------------------------------------------------------------ on real file sources
class RecordingNpy(NpyAdapter):
    """An .npy adapter that notes which thread read each chunk."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.threads: list = []

    def raw_chunks(self, rows):
        for block in super().raw_chunks(rows):
            self.threads.append(threading.current_thread().name)
            yield block


@pytest.fixture
def npy_path(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-3, 1, (1500, 3)), rng.normal(3, 1, (1500, 3))])
    rng.shuffle(X)
    path = tmp_path / "X.npy"
    np.save(path, X)
    return path, X


def test_file_pass_is_prefetched_and_keeps_chunks(npy_path):
    path, X = npy_path
    src = open_source(RecordingNpy(path), chunk_size=400)
    with prefetch.enabled(True):
        chunks = list(pass_chunks(src))
    assert set(src.adapter.threads) == {"fastem-prefetch"}
    assert [c.start for c in chunks] == list(range(0, 3000, 400))
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), X)
    with prefetch.enabled(False):
        plain = list(pass_chunks(src))
    assert src.adapter.threads[-1] == threading.current_thread().name
    for a, b in zip(chunks, plain):
        assert a.start == b.start
        np.testing.assert_array_equal(a.X, b.X)


def test_in_memory_sources_are_not_prefetched():
    from fastem.data import as_source
    src = as_source(np.zeros((10, 2)))
    with prefetch.enabled(True):
        it = pass_chunks(src)
    assert getattr(it, "gi_code", None) is not prefetched.__code__


@pytest.mark.filterwarnings("ignore:Best performing initialization")
@pytest.mark.parametrize("cov", ["full", "diag"])
def test_fit_from_file_bit_identical_with_and_without_prefetch(npy_path, cov):
    path, _ = npy_path
    fits = {}
    for flag in (False, True):
        with prefetch.enabled(flag):
            gm = fastem.GaussianMixture(2, covariance_type=cov, max_iter=5, tol=0.0,
                                        random_state=0, chunk_size=400).fit(str(path))
            fits[flag] = (gm.means_, gm.covariances_, gm.weights_, gm.lower_bound_,
                          gm.score_samples(str(path)))
    for a, b in zip(fits[False], fits[True]):
        np.testing.assert_array_equal(a, b)
    assert not _reader_threads()


def test_bad_value_in_file_reports_the_same_error(tmp_path):
    X = np.random.default_rng(1).normal(size=(2000, 2))
    X[1234, 1] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, X)
    messages = {}
    for flag in (False, True):
        with prefetch.enabled(flag):
            with pytest.raises(ValueError) as info:
                fastem.GaussianMixture(2, max_iter=2, random_state=0,
                                       chunk_size=300).fit(str(path))
            messages[flag] = str(info.value)
    assert messages[True] == messages[False]
    assert "1,234" in messages[True] or "1234" in messages[True], messages[True]
    assert not _reader_threads()
