"""The IVF lists in RAM keep each row's first 256 dims in groups of 32 and the rest row-major
(kernels/row_layout.h, storage/invlists.h); rows of 256 dims or fewer, lists mapped from a file
and the rows of an index with scan_store="int8" are row-major. Every way a list is built or
changed (adds one row at a time or in batches, removals, updates, a mapped list copied into RAM
on its first change, a change of scan_store) keeps the rows intact and the search exact, at scan
prefixes inside a group, at a group's edge, in the tail, and at widths that are not multiples of
8; and a search gives the same bits whatever the layout."""

import numpy as np
import pytest

import adanns
from adanns.datasets import synthetic_matryoshka
from reference import assert_matches, brute_force, out_scores

METRICS = ["l2", "ip", "cosine"]
NLIST = 6


def _exported(index):
    """id -> stored row, from the core's export (row-major whatever the layout in RAM)."""
    sizes, ids, vectors = index._core.export_lists()
    assert int(np.asarray(sizes).sum()) == len(ids) == len(vectors)
    return dict(zip(np.asarray(ids).tolist(), np.asarray(vectors)))


def _check_exact(index, xb, ids, xq, metric, scan_dims):
    """Full probe: scan_dim = dim equals brute force; a short scan with every row reranked too
    (its partial on the prefix is kept when the prefix is a multiple of 8, else re-read)."""
    dim = xb.shape[1]
    order = np.argsort(ids)
    xs, sid = xb[order], np.asarray(ids)[order]
    ref_s = out_scores(xs, xq, metric, dim)
    Dr, Ir = brute_force(xs, xq, 10, metric)
    D, I = index.search(xq, 10, nprobe=NLIST)
    pos = np.searchsorted(sid, I)
    assert_matches(D, pos, Dr, Ir, ref_s)
    for sd in scan_dims:
        if sd >= dim:
            continue
        D, I = index.search(xq, 10, nprobe=NLIST, scan_dim=sd, rerank_k=len(ids))
        assert_matches(D, np.searchsorted(sid, I), Dr, Ir, ref_s)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dim", [50, 300])
def test_adds_removals_and_updates_keep_rows_and_exactness(metric, dim):
    x = synthetic_matryoshka(1_300, dim, n_clusters=12, seed=dim)
    xq, xb = x[:40].copy(), x[40:]
    index = adanns.IVFIndex(dim, NLIST, metric=metric, seed=0)
    index.train(xb)
    # one row at a time (each list grows by doubling), then uneven batches
    start = 0
    for size in [1, 1, 1, 2, 3, 50, 7, 400, 1, len(xb)]:
        end = min(len(xb), start + size)
        if end > start:
            index.add(xb[start:end], ids=np.arange(start, end) * 3)
        start = end
    ids = np.arange(len(xb)) * 3
    stored = _exported(index)
    expect = xb / np.linalg.norm(xb, axis=1, keepdims=True) if metric == "cosine" else xb
    got = np.stack([stored[i] for i in ids.tolist()])
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-6)
    assert index._core.grouped_dims == (256 if dim > 256 else 0)
    scan_dims = [7, 32, 36, 40, 64, 128, 132, 136, 160, 256, 260, 264, 280]
    _check_exact(index, xb, ids, xq, metric, scan_dims)

    # removals (rows move within their lists) and updates (new rows appended)
    rng = np.random.default_rng(1)
    gone = rng.choice(ids, 300, replace=False)
    assert index.remove_ids(gone) == 300
    keep = ~np.isin(ids, gone)
    xb2, ids2 = xb[keep].copy(), ids[keep]
    upd = ids2[::5]
    new_rows = synthetic_matryoshka(len(upd), dim, seed=dim + 1)
    index.update(new_rows, upd)
    xb2[::5] = new_rows
    _check_exact(index, xb2, ids2, xq, metric, scan_dims)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_mapped_lists_are_row_major_until_changed(tmp_path, metric):
    dim = 300
    x = synthetic_matryoshka(1_500, dim, n_clusters=12, seed=7)
    xq, xb, extra = x[:30].copy(), x[30:1300], x[1300:]
    index = adanns.IVFIndex(dim, NLIST, metric=metric, seed=0)
    index.train(xb)
    index.add(xb)
    path = tmp_path / "ix.adanns"
    index.save(path)
    mapped = adanns.load(path, mmap=True)
    ids = np.arange(len(xb))
    scan_dims = [32, 40, 44, 128, 256, 264]
    _check_exact(mapped, xb, ids, xq, metric, scan_dims)
    # some lists change (copied into RAM, into groups), the others stay mapped
    mapped.add(extra[:3], ids=np.arange(10_000, 10_003))
    assert mapped.remove_ids(np.arange(0, 40)) == 40
    xb2 = np.concatenate([xb[40:], extra[:3]])
    ids2 = np.concatenate([ids[40:], np.arange(10_000, 10_003)])
    _check_exact(mapped, xb2, ids2, xq, metric, scan_dims)
    stored = _exported(mapped)
    np.testing.assert_array_equal(np.stack([stored[i] for i in ids2.tolist()]), xb2)
    # a saved copy of the changed index loads with the same rows
    mapped.save(tmp_path / "ix2.adanns")
    again = _exported(adanns.load(tmp_path / "ix2.adanns"))
    assert again.keys() == stored.keys()
    for i in ids2.tolist():
        np.testing.assert_array_equal(again[i], stored[i])


@pytest.mark.parametrize("metric", METRICS)
def test_the_rows_layout_follows_the_scan_store_and_never_changes_results(metric):
    dim = 300
    x = synthetic_matryoshka(1_200, dim, n_clusters=12, seed=11)
    xq, xb = x[:50].copy(), x[50:]
    index = adanns.IVFIndex(dim, NLIST, metric=metric, seed=0)
    index.train(xb)
    index.add(xb)
    assert index._core.grouped_dims == 256
    settings = [dict(nprobe=3), dict(nprobe=3, scan_dim=40, rerank_k=30), dict(nprobe=NLIST, scan_dim=264, rerank_k=20),
                dict(nprobe=2, scan_dim=100)]
    grouped = [index.search(xq, 10, **kw) for kw in settings]
    rows = _exported(index)
    index.scan_store = "int8"  # the rows are laid out row-major again
    assert index._core.grouped_dims == 0
    index.scan_store = "float32"
    assert index._core.grouped_dims == 256
    index._core.set_grouped_rows(False)
    assert index._core.grouped_dims == 0
    row_major = [index.search(xq, 10, **kw) for kw in settings]
    for (D, I), (D2, I2) in zip(grouped, row_major):  # the same bits: one chain per value, any layout
        np.testing.assert_array_equal(D, D2)
        np.testing.assert_array_equal(I, I2)
    assert _exported(index).keys() == rows.keys()
    index.add(xb[:5], ids=np.arange(5000, 5005))  # appends in the row-major layout
    index._core.set_grouped_rows(True)
    assert index._core.grouped_dims == 256
    index.remove_ids(np.arange(5000, 5005))
    for kw, (D, I) in zip(settings, grouped):
        D2, I2 = index.search(xq, 10, **kw)
        np.testing.assert_array_equal(D, D2)
        np.testing.assert_array_equal(I, I2)
    # an index built with the int8 scan keeps row-major rows (its rerank reads them whole)
    i8 = adanns.IVFIndex(dim, NLIST, metric=metric, seed=0, scan_store="int8")
    i8.train(xb)
    i8.add(xb)
    assert i8._core.grouped_dims == 0
