"""What only the native layer can show: panics become RuntimeError, the GIL is released,
the flat batch form matches the nested one with the documented dtypes, versions agree."""

from __future__ import annotations

import os
import random
import threading
import time
from importlib.metadata import version

import fastbpe
import numpy as np
import pytest
from fastbpe import Tokenizer, _fastbpe

TEXTS = [
    "The quick brown fox jumps over the lazy dog.\n",
    "İstanbul'da ışık, Şişli ğ; 日本語のテキスト 👨\u200d👩\u200d👧 done.\n",
    "a   b\tc\r\n 123abc [MASK] x\n",
] * 50


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(TEXTS, 400, min_frequency=1, byte_fallback=True, show_progress=False)


def test_panic_becomes_runtime_error():
    with pytest.raises(RuntimeError, match="deliberate panic"):
        _fastbpe._panic_for_test()
    # and the module still works afterwards
    assert Tokenizer.train(["ab ab"], 10, show_progress=False).vocab_size >= 8


def test_versions_match():
    assert fastbpe.__version__ == _fastbpe.__version__ == version("fastbpe")


def test_flat_equals_nested_with_dtypes(tok):
    batch = TEXTS[:7] + ["", "ş"]
    nested = tok.encode_batch(batch)
    assert nested == [tok.encode(t) for t in batch]
    ids, offsets = tok.encode_batch_flat(batch)
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64
    assert ids.ndim == offsets.ndim == 1 and len(offsets) == len(batch) + 1
    assert ids.flags["C_CONTIGUOUS"] and ids.flags["WRITEABLE"]
    assert [ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(batch))] == nested
    # decode accepts the numpy slice directly
    assert tok.decode(ids[offsets[1] : offsets[2]]) == tok.decode(nested[1])


def test_gil_released_during_encode_batch(tok):
    # While one thread encodes a large batch in Rust, a pure-Python thread must keep running.
    big = TEXTS * 400
    ticks = 0
    done = threading.Event()

    def python_work():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    worker = threading.Thread(target=python_work)
    worker.start()
    try:
        start = time.perf_counter()
        results = [None, None]

        def encode(i):
            results[i] = tok.encode_batch(big)

        threads = [threading.Thread(target=encode, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        before = ticks
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        done.set()
        worker.join()
    assert results[0] == results[1]
    assert elapsed < 0.01 or ticks > before, "no Python thread ran while Rust was encoding"


def test_threads_sharing_one_cold_tokenizer_get_the_same_ids(tok, tmp_path):
    # One word cache per tokenizer, shared by every thread: four Python threads (each also
    # using the Rust pool) encode overlapping batches of mostly unseen words, so the cache
    # grows while they read and insert; every result must equal a fresh tokenizer's.
    words = [f"w{i}x{i * 7919 % 1000}ş" for i in range(30_000)]
    batches = [
        [" ".join(words[j : j + 50]) for j in range(k * 2000, 30_000, 400)] for k in range(4)
    ]
    tok.save(tmp_path)
    expected = [Tokenizer.load(tmp_path).encode_batch(b) for b in batches]
    shared = Tokenizer.load(tmp_path)
    results: list = [None] * 4

    def encode(k):
        results[k] = shared.encode_batch(batches[k])

    threads = [threading.Thread(target=encode, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_progress_callback_exception_stops_training():
    calls = []

    def progress(stage, done, total):
        calls.append((stage, done, total))
        if stage == "merge" and done > 0:
            raise KeyboardInterrupt("stop")

    text = " ".join(f"w{i}x{i % 7}" for i in range(3000))
    with pytest.raises(KeyboardInterrupt, match="stop"):
        _fastbpe.Tokenizer.train_iterator([text], 5000, min_frequency=1, progress=progress)
    assert calls[0] == ("merge", 0, calls[0][2])


def test_errors_map_to_python_exceptions(tok, tmp_path):
    with pytest.raises(KeyError, match="99999"):
        tok.decode([99999])
    with pytest.raises(KeyError, match="-1"):
        tok.decode([-1])
    with pytest.raises(FileNotFoundError):
        _fastbpe.Tokenizer.load(str(tmp_path / "missing"))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\nmore \xff here\n")
    with pytest.raises(ValueError, match=r"bad\.txt.*byte offset 15"):
        Tokenizer.train(bad, 100, show_progress=False)
    with pytest.raises(TypeError, match="item 1 is int"):
        _fastbpe.Tokenizer.train_iterator(iter(["ok", 3]), 100)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_encode_batch_in_forked_child(tok):
    # A DataLoader worker is a fork of a process whose rayon pool already ran: the child
    # has the pool's state but not its threads. It must not hang.
    wait_for_children([fork_encoding(tok, TEXTS, tok.encode_batch(TEXTS))])


def fork_encoding(tok: Tokenizer, texts: list[str], expected: list[list[int]]) -> int:
    """Forks a child that encodes `texts` and exits 0 if it got `expected`; returns its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            code = 0 if tok.encode_batch(texts) == expected else 1
        finally:
            os._exit(code)
    return pid


def wait_for_children(pids: list[int], seconds: float = 60) -> None:
    """Waits for forked children that check something and exit 0; kills those still running
    after `seconds` (none is left behind) and fails if any hung or failed."""
    codes: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    hung = [pid for pid in pids if pid not in codes]
    for pid in hung:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert not hung, f"encoding hung in {len(hung)} of {len(pids)} forked children"
    assert all(code == 0 for code in codes.values()), f"children exited with {codes}"


def random_words(seed: int, texts: int, per_text: int, vocab: list[str] | None = None) -> list[str]:
    rng = random.Random(seed)

    def word() -> str:
        if vocab:
            return rng.choice(vocab)
        return "".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 9)))

    return [" ".join(word() for _ in range(per_text)) + "\n" for _ in range(texts)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_fork_while_another_thread_encodes(tmp_path):
    # A fork taken while another thread is inside encode (a background thread, when a
    # DataLoader starts its workers) copies the word cache's lock as that thread held it;
    # the child has no such thread, and its first batch that grew the cache waited forever
    # (2 of 3 forks here, before the fork hook). The busy thread encodes a 1 MB batch of 1000
    # words, so that it is nearly always inside Rust; the child's 2.6 MB of new words need a
    # larger cache.
    tok = Tokenizer.train(TEXTS, 400, min_frequency=1, show_progress=False)
    tok.save(tmp_path)
    busy_texts = random_words(1, 200, 1000, random_words(3, 1, 1000)[0].split())
    child_texts = random_words(2, 2000, 200)
    expected = Tokenizer.load(tmp_path).encode_batch(child_texts)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            tok.encode_batch_flat(busy_texts)

    worker = threading.Thread(target=busy)
    worker.start()
    pids = []
    try:
        for _ in range(3):
            time.sleep(0.1)
            pids.append(fork_encoding(tok, child_texts, expected))
    finally:
        stop.set()
        worker.join()
    wait_for_children(pids)


def test_pickle_round_trip(tok):
    import pickle

    back = pickle.loads(pickle.dumps(tok))
    assert back.get_vocab() == tok.get_vocab() and back.merges == tok.merges
    assert back.encode_batch(TEXTS[:5]) == tok.encode_batch(TEXTS[:5])
