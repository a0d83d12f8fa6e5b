"""Property tests: random shapes, prefixes, k, nprobe, ids, dtypes and metrics against the
numpy reference; invalid combinations always raise clear exceptions."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adanns
from reference import prefix_scores, to_output

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw):
    dim = draw(st.integers(1, 70))
    n = draw(st.integers(1, 300))
    nq = draw(st.integers(1, 12))
    metric = draw(st.sampled_from(["l2", "ip", "cosine"]))
    nlist = draw(st.integers(1, min(n, 12)))
    coarse_dim = draw(st.integers(1, dim))
    scan_dim = draw(st.integers(1, dim))
    rerank_dim = draw(st.integers(1, dim))
    k = draw(st.integers(1, n))
    rerank_k = draw(st.sampled_from([0, 1, k, n, 3 * n]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    seed = draw(st.integers(0, 2**32 - 1))
    custom_ids = draw(st.booleans())
    return dict(dim=dim, n=n, nq=nq, metric=metric, nlist=nlist, coarse_dim=coarse_dim, scan_dim=scan_dim,
                rerank_dim=rerank_dim, k=k, rerank_k=rerank_k, dtype=dtype, seed=seed, custom_ids=custom_ids)


@SETTINGS
@given(problems())
def test_full_probe_is_exact(p):
    rng = np.random.default_rng(p["seed"])
    xb = rng.standard_normal((p["n"], p["dim"])).astype(p["dtype"])
    xq = rng.standard_normal((p["nq"], p["dim"])).astype(p["dtype"])
    ids = rng.choice(10**12, p["n"], replace=False) if p["custom_ids"] else np.arange(p["n"])
    index = adanns.IVFIndex(p["dim"], p["nlist"], coarse_dim=p["coarse_dim"], metric=p["metric"], seed=p["seed"])
    index.train(xb)
    index.add(xb, ids=ids if p["custom_ids"] else None)
    rerank_k = p["rerank_k"]
    D, I = index.search(xq, p["k"], nprobe=p["nlist"], scan_dim=p["scan_dim"], rerank_k=rerank_k,
                        rerank_dim=p["rerank_dim"])
    assert D.shape == I.shape == (p["nq"], p["k"]) and D.dtype == np.float32 and I.dtype == np.int64
    # all k found (every list is probed), ids valid and unique per row
    assert np.isin(I, ids).all()
    assert all(len(set(r)) == len(r) for r in I.tolist())
    final_dim = p["rerank_dim"] if rerank_k else p["scan_dim"]
    xb32, xq32 = xb.astype(np.float32), xq.astype(np.float32)
    ref = to_output(prefix_scores(xb32, xq32, p["metric"], final_dim), p["metric"])
    pos = np.searchsorted(ids, I, sorter=np.argsort(ids))
    rows = np.argsort(ids)[pos]
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(D, np.take_along_axis(ref, rows, 1), atol=3e-4 * scale)
    sign = 1 if p["metric"] == "l2" else -1
    assert (np.diff(sign * D.astype(np.float64), axis=1) >= -1e-5 * scale).all()
    if rerank_k == 0 or rerank_k >= p["n"]:
        # one exhaustive stage: the result is the exact top-k on final_dim
        kth = np.sort(sign * ref, axis=1)[:, p["k"] - 1]
        assert (sign * D.astype(np.float64) <= kth[:, None] + 3e-4 * scale).all()


@SETTINGS
@given(
    dim=st.integers(1, 20),
    k=st.integers(-3, 40),
    nprobe=st.integers(-2, 10),
    scan_dim=st.integers(-2, 25),
    rerank_k=st.integers(-2, 50),
    rerank_dim=st.integers(-2, 25),
    qdim=st.integers(1, 25),
)
def test_invalid_combinations_raise(dim, k, nprobe, scan_dim, rerank_k, rerank_dim, qdim):
    rng = np.random.default_rng(dim)
    xb = rng.standard_normal((30, dim)).astype(np.float32)
    index = adanns.IVFIndex(dim, 4)
    index.train(xb)
    index.add(xb)
    xq = rng.standard_normal((2, qdim)).astype(np.float32)
    valid = (
        1 <= k <= 30 and 1 <= nprobe <= 4 and 1 <= scan_dim <= dim and rerank_k >= 0
        and 1 <= rerank_dim <= dim and qdim == dim
    )
    try:
        D, I = index.search(xq, k, nprobe=nprobe, scan_dim=scan_dim, rerank_k=rerank_k, rerank_dim=rerank_dim)
    except (ValueError, TypeError) as e:
        assert not valid, e
        assert str(e)
    else:
        assert valid
        assert D.shape == (2, k)
