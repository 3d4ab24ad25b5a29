"""camoe's feature hash (docs/FORMAT.md, "Hashing") in numpy: a text value lands in the
same embedding row here as in the runtime and the candle trainer."""

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(z):
    """The bijective finalizer on uint64 arrays (wrapping arithmetic, as in src/hash.rs)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * _M1
        z = z ^ (z >> np.uint64(27))
        z = z * _M2
        return z ^ (z >> np.uint64(31))


def hash_bytes(values, seed):
    """hash_bytes of every byte string in `values` (a list of bytes), as uint64.

    Vectorized over the values: each is zero-padded to whole 8-byte words, and word k
    is mixed into the values that have at least k + 1 words."""
    seed = np.uint64(seed)
    n = len(values)
    lens = np.fromiter((len(v) for v in values), dtype=np.uint64, count=n)
    words = ((lens + np.uint64(7)) // np.uint64(8)).astype(np.int64)
    width = int(words.max()) if n else 0
    buf = np.zeros((n, max(width, 1) * 8), dtype=np.uint8)
    for i, v in enumerate(values):
        buf[i, : len(v)] = np.frombuffer(v, dtype=np.uint8)
    le = buf.view("<u8").astype(np.uint64)
    with np.errstate(over="ignore"):
        h = mix64(seed ^ ((lens + np.uint64(1)) * GOLDEN))
        for k in range(width):
            live = words > k
            h[live] = mix64(h[live] ^ le[live, k]) + GOLDEN
    return mix64(h)


def field_seed(model_seed, field_index):
    """The per-field seed of config field `field_index`."""
    with np.errstate(over="ignore"):
        return mix64(np.uint64(model_seed) ^ (np.uint64(field_index + 1) * GOLDEN))


def bucket(ids, fseed, vocab):
    """Rows in 1..vocab of the 64-bit ids (row 0 is reserved for missing)."""
    return (np.uint64(1) + mix64(np.asarray(ids, dtype=np.uint64) ^ np.uint64(fseed)) % np.uint64(vocab - 1)).astype(np.int64)


def rows_of_text(texts, model_seed, field_index, vocab):
    """Embedding rows of a column of text values ("" = missing = row 0). Each distinct
    value is hashed once."""
    uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    rows = bucket(
        hash_bytes([u.encode() for u in uniq], model_seed),
        field_seed(model_seed, field_index),
        vocab,
    )
    rows[np.array([u == "" for u in uniq], dtype=bool)] = 0
    return rows[inverse.reshape(-1)]
