"""Compiled inner loops (numba): the few places where the skip path walks every byte or every
(shingle × hash function) pair, which numpy can only do as a dozen full passes over temporary arrays.

Each kernel computes exactly what the numpy expression it replaced computed (unsigned 64-bit
arithmetic wraps in both; tests/test_kernels.py compares them with plain-Python definitions), so stored
values (MinHash signatures, language scores) do not change.

Compilation: numba's cache keeps the machine code beside this file (``__pycache__``, or numba's user
cache directory when that is read-only), so a process pays ~0.3 s to load it instead of ~1 s to compile
it. The first call in a process does that; it is part of a worker's startup, like loading the models.
Where no cache directory is writable at all (a read-only install and no writable home), numba refuses
to cache; the kernels are then compiled in each process instead (:func:`_compiled`), never an error.
Nothing here holds state: every array a kernel writes is passed in or returned.

numba mixes ``uint64`` with a plain ``int`` into ``float64``; every constant below is therefore a
``np.uint64`` and every byte is widened to ``np.uint64`` before arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(function: _F) -> _F:
    """``function`` compiled by numba (``nogil``), its machine code cached on disk where numba finds a
    writable place for it (it raises RuntimeError "no locator available" where it finds none)."""
    try:
        compiled = njit(cache=True, nogil=True)(function)
    except RuntimeError:
        compiled = njit(cache=False, nogil=True)(function)
    return cast(_F, compiled)  # called like the Python function it compiles


U64 = npt.NDArray[np.uint64]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_ONE = np.uint64(1)
_SPACE = np.uint8(0x20)


@_compiled
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64's finalizer (Vigna), as ``feedflow.core.neardup.splitmix64``."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@_compiled
def shingle_hashes(data: npt.NDArray[np.uint8], width: int, poly: np.uint64, poly_inv: np.uint64) -> U64:
    """The hash of every ``width``-word window of ``data`` (words separated by single 0x20 bytes), in
    text order, repeats included; empty when there are fewer than ``width`` words.

    A window's hash is ``splitmix64(H ^ width)`` where ``H = sum_j (byte_j + 1) * poly**j`` over its
    bytes (j counted from the window's first byte, modulo 2**64), computed from prefix sums:
    ``H = (prefix[end] - prefix[start]) * poly_inv**start``."""
    length = data.shape[0]
    words = 1
    for i in range(length):
        if data[i] == _SPACE:
            words += 1
    if words < width:
        return np.empty(0, dtype=np.uint64)
    prefix = np.empty(length + 1, dtype=np.uint64)
    starts = np.empty(words, dtype=np.int64)
    ends = np.empty(words, dtype=np.int64)
    scale = np.empty(words, dtype=np.uint64)  # poly_inv ** start of each word
    starts[0] = 0
    scale[0] = _ONE
    acc = np.uint64(0)
    power = _ONE
    inverse = _ONE
    word = 0
    for i in range(length):
        prefix[i] = acc
        byte = data[i]
        acc += (np.uint64(byte) + _ONE) * power
        power *= poly
        inverse *= poly_inv  # now poly_inv ** (i + 1)
        if byte == _SPACE:
            ends[word] = i
            word += 1
            starts[word] = i + 1
            scale[word] = inverse
    prefix[length] = acc
    ends[word] = length
    count = words - width + 1
    out = np.empty(count, dtype=np.uint64)
    tag = np.uint64(width)
    for s in range(count):
        out[s] = _mix(((prefix[ends[s + width - 1]] - prefix[starts[s]]) * scale[s]) ^ tag)
    return out


@_compiled
def minhash(hashes: U64, seeds: U64, low: U64) -> None:
    """``low[k] = min(low[k], min_x splitmix64(x ^ seeds[k]))`` over every ``x`` in ``hashes``: one
    pass, no temporaries (the inner loop over the seeds vectorizes)."""
    count = seeds.shape[0]
    for i in range(hashes.shape[0]):
        value = hashes[i]
        for k in range(count):
            mixed = _mix(value ^ seeds[k])
            if mixed < low[k]:
                low[k] = mixed


@_compiled
def automaton_features(
    data: npt.NDArray[np.uint8],
    moves: npt.NDArray[np.uint32],
    rows: npt.NDArray[np.intp],
    outputs: npt.NDArray[np.intp],
    sync: int,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """py3langid's byte-n-gram automaton walked over ``data`` from its start state: the features it
    emits (``outputs[state] >= 0`` after each byte), distinct, in order of first appearance, with how
    often each appeared (the order in which py3langid's ``Counter`` holds them).

    The automaton forgets its past after ``sync`` bytes (see ``feedflow.core.language.SYNC_BYTES``), so
    the state after byte *p* is the state reached from the start by bytes *p − sync + 1 … p* alone. The
    walk advances every position one byte per pass: within a pass no load waits for another, so the
    table's cache misses overlap (a plain byte-by-byte walk waits for each miss in turn; ~45 µs an
    article slower inside the pipeline, where the 39 MB table is rarely in cache)."""
    length = data.shape[0]
    states = np.zeros(length, dtype=np.intp)
    for back in range(min(sync, length) - 1, 0, -1):  # position p reads byte p - back (if any)
        for p in range(back, length):
            states[p] = moves[rows[states[p]] + data[p - back]]
    features = np.empty(length, dtype=np.intp)
    found = 0
    for p in range(length):
        feature = outputs[moves[rows[states[p]] + data[p]]]
        if feature >= 0:
            features[found] = feature
            found += 1
    # distinct features in order of first appearance: an open-addressing table (linear probing) maps a
    # feature to its slot in ``distinct``/``counts``
    size = 16
    while size < 2 * found:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    distinct = np.empty(found, dtype=np.intp)
    counts = np.empty(found, dtype=np.int64)
    used = 0
    for j in range(found):
        feature = features[j]
        slot = (feature * 0x9E3779B1) & (size - 1)
        while True:
            index = table[slot]
            if index < 0:
                table[slot] = used
                distinct[used] = feature
                counts[used] = 1
                used += 1
                break
            if distinct[index] == feature:
                counts[index] += 1
                break
            slot = (slot + 1) & (size - 1)
    return distinct[:used], counts[:used]


_LOW32 = np.int64(0xFFFFFFFF)


@_compiled
def band_keys(signatures: npt.NDArray[np.int64], seeds: U64, rows: int) -> U64:
    """The band keys of each row of ``signatures`` (stored or raw values, as int64; only the first
    ``len(seeds) × rows`` of a row are read), as an ``(n, bands)`` array: band ``b`` starts from
    ``seeds[b]`` and, for each of its ``rows`` values ``v`` in order, becomes ``splitmix64(key ^ (v &
    0xFFFFFFFF))``; the key is then folded to 32 bits, ``(key ^ (key >> 32)) & 0xFFFFFFFF``
    (``feedflow.core.neardup.band_keys_many``; one pass, no temporaries)."""
    count = signatures.shape[0]
    bands = seeds.shape[0]
    out = np.empty((count, bands), dtype=np.uint64)
    for member in range(count):
        for band in range(bands):
            key = seeds[band]
            for row in range(rows):
                key = _mix(key ^ np.uint64(signatures[member, band * rows + row] & _LOW32))
            out[member, band] = (key ^ (key >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return out


@_compiled
def _scan_terms(
    text: npt.NDArray[np.uint32],
    start: int,
    end: int,
    zone: float,
    trie: tuple[Any, ...],
    hits: npt.NDArray[np.float64],
    seen: npt.NDArray[np.bool_],
    touched: npt.NDArray[np.int32],
    count: int,
) -> int:
    """One zone ``text[start:end]`` of :func:`term_hits`; returns the new count of touched units."""
    word, symbols, root, edge_start, edge_symbol, edge_node, node_term, item_start, item_unit, item_weight = trie[:10]
    rows, dense = trie[10:]
    known = symbols.shape[0]
    alphabet = root.shape[0]
    p = start
    while p < end:
        if p > start and word[text[p - 1]]:  # (?<!\w): a term starts only where no word character precedes
            p += 1
            continue
        code = text[p]
        symbol = symbols[code] if code < known else -1
        node = root[symbol] if symbol >= 0 else -1
        best = 0
        best_term = -1
        q = p
        while node >= 0:  # down the trie: the longest term that also ends before a non-word character
            q += 1
            if node_term[node] >= 0 and (q == end or not word[text[q]]):
                best = q - p
                best_term = node_term[node]
            if q == end:
                break
            code = text[q]
            symbol = symbols[code] if code < known else -1
            child = -1
            if symbol >= 0:
                row = rows[node]
                if row >= 0:  # a node with many children: its row of the dense table
                    child = dense[row * alphabet + symbol]
                else:
                    for edge in range(edge_start[node], edge_start[node + 1]):
                        if edge_symbol[edge] == symbol:
                            child = edge_node[edge]
                            break
            node = child
        if best_term < 0:
            p += 1
            continue
        for item in range(item_start[best_term], item_start[best_term + 1]):
            unit = item_unit[item]
            if not seen[unit]:
                seen[unit] = True
                touched[count] = unit
                count += 1
            hits[unit] = hits[unit] + item_weight[item] * zone
        p += best
    return count


@_compiled
def _count_terms(
    text: npt.NDArray[np.uint32], split: int, end: int, first_zone: float, trie: tuple[Any, ...], units: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The two zones ``text[:split]`` (``first_zone``) and ``text[split:end]`` (1.0) scanned by
    :func:`_scan_terms`: each unit's hits, and the units touched, in order of first touch."""
    hits = np.zeros(units, dtype=np.float64)
    seen = np.zeros(units, dtype=np.bool_)
    touched = np.empty(units, dtype=np.int32)
    count = _scan_terms(text, 0, split, first_zone, trie, hits, seen, touched, 0)
    count = _scan_terms(text, split, end, 1.0, trie, hits, seen, touched, count)
    return hits, touched[:count]


@_compiled
def term_hits(
    text: npt.NDArray[np.uint32], split: int, first_zone: float, units: int, trie: tuple[Any, ...]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """The topic tagger's term count (``feedflow.core.topics.TermMatcher``) over two zones of ``text``,
    code points: ``text[:split]`` (each match weighing ``first_zone``), then ``text[split:]`` (1.0); no
    term spans the two. It is what ``re.finditer`` does with the alternation of all terms (longest
    first) between ``(?<!\\w)`` and ``(?!\\w)``: left to right, at each position where no word
    character precedes, the longest term that a non-word character (or the zone's end) follows; the
    scan goes on after it, or one character on when none matched. Each match adds ``weight × zone``
    to each of its term's units, in order. Returns the units touched, in order of first touch, and
    their sums (the same float operations in the same order as the dict the regex loop filled).

    ``trie``: ``(word, symbols, root, edge_start, edge_symbol, edge_node, node_term, item_start,
    item_unit, item_weight, rows, dense)`` as ``TermMatcher`` builds it."""
    hits, touched = _count_terms(text, split, text.shape[0], first_zone, trie, units)
    order = touched.copy()
    return order, hits[order]


@_compiled
def _fold_zone(
    text: npt.NDArray[np.uint32], start: int, end: int, fold: npt.NDArray[np.int32], out: npt.NDArray[np.uint32], n: int
) -> int:
    """Appends ``text[start:end]`` (lower case already) to ``out[n:]`` as ``normalize_text`` leaves it:
    ``fold[code]`` is -1 for whitespace and dashes (a run of them becomes one space, none at either
    end of the zone), the straight apostrophe for a curly one, else the code itself (so is every code
    past the table). Returns the new length of ``out``."""
    known = fold.shape[0]
    begin = n
    pending = False
    for p in range(start, end):
        code = text[p]
        if code < known:
            mapped = fold[code]
            if mapped < 0:
                pending = True
                continue
            code = np.uint32(mapped)
        if pending and n > begin:
            out[n] = 32
            n += 1
        pending = False
        out[n] = code
        n += 1
    return n


@_compiled
def topic_evidence(
    text: npt.NDArray[np.uint32],
    split: int,
    first_zone: float,
    trie: tuple[Any, ...],
    fold: npt.NDArray[np.int32],
    units: tuple[Any, ...],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32], npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """The topic tagger's evidence (``feedflow.core.topics.TopicTagger``) from its raw text, lower case:
    ``text[:split]`` the title, ``text[split:]`` the body. Each zone is normalised as ``normalize_text``
    does (``fold``, see :func:`_fold_zone`), the terms are counted as :func:`term_hits` counts them,
    and each touched unit, in order of first touch, gives ``weight × f(count)`` (``f(x) = x`` up to 1,
    ``1 + ln x`` above) times its share to each of its homes, in order.

    ``units``: ``(weight, home_start, home_top, home_share, tops)``: per unit its weight and its homes
    ``home_start[u]:home_start[u + 1]`` (top index, share); ``tops`` the number of top-level topics.
    Returns each top's evidence (the sum of its contributions in order; 0 where it has none) and the
    contributions in order: top index, value, unit."""
    weight, home_start, home_top, home_share, tops = units
    norm = np.empty(text.shape[0], dtype=np.uint32)
    middle = _fold_zone(text, 0, split, fold, norm, 0)
    end = _fold_zone(text, split, text.shape[0], fold, norm, middle)
    hits, touched = _count_terms(norm, middle, end, first_zone, trie, weight.shape[0])
    count = touched.shape[0]
    sums = np.zeros(tops, dtype=np.float64)
    contributions = 0
    for i in range(count):
        unit = touched[i]
        contributions += home_start[unit + 1] - home_start[unit]
    c_top = np.empty(contributions, dtype=np.int32)
    c_value = np.empty(contributions, dtype=np.float64)
    c_unit = np.empty(contributions, dtype=np.int32)
    c = 0
    for i in range(count):
        unit = touched[i]
        hit = hits[unit]
        value = weight[unit] * (hit if hit <= 1.0 else 1.0 + math.log(hit))
        for home in range(home_start[unit], home_start[unit + 1]):
            top = home_top[home]
            share = value * home_share[home]
            sums[top] += share
            c_top[c] = top
            c_value[c] = share
            c_unit[c] = unit
            c += 1
    return sums, c_top, c_value, c_unit
