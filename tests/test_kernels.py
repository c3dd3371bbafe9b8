"""The compiled loops (feedflow.core.kernels) against plain definitions: stored MinHash signatures must
not change when the way of computing them does."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feedflow.core.kernels import _fold_zone, minhash, shingle_hashes
from feedflow.core.neardup import (
    _POLY,
    _POLY_INV,
    _SEEDS,
    MinHasher,
    _band_seeds,
    band_keys,
    band_keys_many,
    splitmix64,
)
from feedflow.core.topics import _fold_table, normalize_text

MASK = 2**64 - 1


def python_mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def python_shingles(data: bytes, width: int) -> list[int]:
    """The definition, in Python integers: each window of ``width`` space-separated words hashed as
    sum((byte + 1) * P**j) mod 2**64 over its bytes, XOR width, then splitmix64."""
    words = data.split(b" ")
    out = []
    for start in range(len(words) - width + 1):
        window = b" ".join(words[start : start + width])
        value = 0
        for j, byte in enumerate(window):
            value = (value + (byte + 1) * pow(0x100000001B3, j, 2**64)) & MASK
        out.append(python_mix(value ^ width))
    return out


def numpy_shingles(data: bytes, width: int) -> list[int]:
    """The numpy expression the kernel replaced (prefix sums over the whole text, scaled back by the
    inverse power of each window's start)."""
    array = np.frombuffer(data, dtype=np.uint8)
    spaces = np.flatnonzero(array == 0x20)
    if len(spaces) + 1 < width:
        return []
    length = len(array)
    power = np.concatenate(([np.uint64(1)], np.cumprod(np.full(length - 1, _POLY, dtype=np.uint64))))
    inverse = np.concatenate(([np.uint64(1)], np.cumprod(np.full(length - 1, _POLY_INV, dtype=np.uint64))))
    prefix = np.zeros(length + 1, dtype=np.uint64)
    np.cumsum((array.astype(np.uint64) + np.uint64(1)) * power, dtype=np.uint64, out=prefix[1:])
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [length]))
    first, last = starts[: len(starts) - width + 1], ends[width - 1 :]
    hashes = (prefix[last] - prefix[first]) * inverse[first]
    return [int(v) for v in splitmix64(hashes ^ np.uint64(width))]


WORD = st.text(alphabet=st.sampled_from("abcxyz09éß€"), min_size=1, max_size=7)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=0, max_size=40), st.integers(1, 7))
@example(["a", "b", "c", "d", "e"], 5)
@example(["a", "b", "c", "d"], 5)
@example(["storm"], 1)
def test_shingle_hashes_are_the_definition(words: list[str], width: int) -> None:
    data = " ".join(words).encode()
    got = shingle_hashes(np.frombuffer(data, dtype=np.uint8), width, _POLY, _POLY_INV).tolist()
    assert got == python_shingles(data, width)
    if data:  # the replaced numpy code was never given an empty text (it cannot build its power tables)
        assert got == numpy_shingles(data, width)


def test_shingle_hashes_of_a_long_text_match_the_replaced_numpy_code() -> None:
    rng = np.random.default_rng(7)
    data = " ".join("".join(rng.choice(list("abcdefgh"), rng.integers(1, 9))) for _ in range(5000)).encode()
    got = shingle_hashes(np.frombuffer(data, dtype=np.uint8), 5, _POLY, _POLY_INV).tolist()
    assert len(got) == 4996 and got == numpy_shingles(data, 5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, MASK), min_size=1, max_size=300), st.integers(0, 128), st.integers(0, 128))
def test_minhash_is_the_per_seed_minimum(values: list[int], a: int, b: int) -> None:
    start, stop = min(a, b), max(a, b)
    hashes = np.array(values, dtype=np.uint64)
    low = np.full(stop - start, MASK, dtype=np.uint64)
    minhash(hashes, _SEEDS[start:stop], low)
    assert low.tolist() == [min(python_mix(v ^ int(seed)) for v in values) for seed in _SEEDS[start:stop]]


def test_minhash_keeps_a_lower_running_minimum() -> None:
    low = np.zeros(4, dtype=np.uint64)
    minhash(np.array([1, 2, 3], dtype=np.uint64), _SEEDS[:4], low)
    assert low.tolist() == [0, 0, 0, 0]


def test_a_signature_value_pinned_from_the_definition() -> None:
    # Independent of every implementation in the package: Python integers from the definition.
    text = "the storm hit the coast on may"
    hashes = python_shingles(text.encode(), 5)
    expected = [min(python_mix(h ^ int(seed)) for h in hashes) >> 32 for seed in _SEEDS]
    signature = MinHasher().signature(["The storm hit the coast on May"])
    assert signature is not None and signature.tolist() == expected


def python_band_keys(signature: list[int], bands: int, rows: int) -> list[int]:
    """The definition: band b's key starts at its seed and mixes in each of its rows' low 32 bits in
    turn; then its two halves are XORed into one unsigned 32-bit key."""
    keys = []
    for band, seed in enumerate(_band_seeds(bands, rows).tolist()):
        key = seed
        for value in signature[band * rows : (band + 1) * rows]:
            key = python_mix(key ^ (value & 0xFFFFFFFF))
        keys.append((key ^ (key >> 32)) & 0xFFFFFFFF)
    return keys


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=140, max_size=140), min_size=1, max_size=4),
    st.integers(128, 140),
    st.sampled_from([(32, 4), (16, 8), (128, 1), (5, 20), (1, 1)]),
)
def test_band_keys_are_the_definition(rows_of: list[list[int]], width: int, banding: tuple[int, int]) -> None:
    """One signature or many at once, stored (int32) or raw (uint32) values, longer than the bands
    need or not: every row's keys are the definition's."""
    bands, rows = banding
    signatures = [row[:width] for row in rows_of]
    expected = [python_band_keys(signature, bands, rows) for signature in signatures]
    assert band_keys_many(np.asarray(signatures, dtype=np.int64), bands, rows).tolist() == expected
    assert [band_keys(signature, bands, rows) for signature in signatures] == expected
    raw = np.asarray(signatures[0], dtype=np.int64).astype(np.uint32)
    assert band_keys(raw, bands, rows) == expected[0]


def test_band_keys_refuse_a_short_signature_or_a_table() -> None:
    with pytest.raises(ValueError, match="too short"):
        band_keys([1] * 127, 32, 4)
    with pytest.raises(ValueError, match="one row"):
        band_keys([[1] * 128], 32, 4)


def test_the_kernels_work_where_numba_finds_no_cache_directory() -> None:
    # A read-only install with no writable home: numba raises "no locator available" for cache=True.
    # Simulated by allowing only the IPython locator (None outside IPython), read when numba is imported.
    code = (
        "from feedflow.core.neardup import MinHasher\n"
        "from feedflow.core.language import LanguageDetector\n"
        "from feedflow.core.topics import TermMatcher\n"
        "print(MinHasher().signature(['the storm hit the coast on may']).tolist()[:4])\n"
        "print(LanguageDetector().detect('Storm', ['The storm hit the coast on Monday night.']))\n"
        "print(TermMatcher({'storm': ((0, 1.0),)}, 1).hits('storm', 2.0, 'a storm'))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    signature = MinHasher().signature(["the storm hit the coast on may"])
    assert signature is not None
    assert found.stdout.split("\n")[:3] == [str(signature.tolist()[:4]), "en", "{0: 3.0}"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
@example(" \u00a0Wall\u2014Street\t\n ’s\u3000")
@example("ΣΟΦΙΑΣ İstanbul")
def test_the_compiled_fold_is_normalize_text(text: str) -> None:
    lowered = text.lower()
    codes = np.frombuffer(lowered.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    out = np.empty(codes.shape[0], dtype=np.uint32)
    end = _fold_zone(codes, 0, codes.shape[0], _fold_table(), out, 0)
    assert out[:end].tobytes().decode("utf-32-le") == normalize_text(text)
