"""Small numpy reference of the search semantics, used only by the tests."""

import os
import subprocess
import sys
import textwrap

import numpy as np


def prefix_scores(xb, xq, metric, d):
    """Internal distances (smaller is better) of every query to every base row on prefix d."""
    b = np.asarray(xb, np.float64)[:, :d]
    q = np.asarray(xq, np.float64)[:, :d]
    if metric == "l2":
        return (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
    if metric == "ip":
        return -(q @ b.T)
    bn = np.linalg.norm(b, axis=1)
    qn = np.linalg.norm(q, axis=1)
    bn[bn == 0] = 1
    qn[qn == 0] = 1
    return -((q / qn[:, None]) @ (b / bn[:, None]).T)


def to_output(dist, metric):
    return dist if metric == "l2" else -dist


def out_scores(xb, xq, metric, d):
    """Exact scores of every (query, base) pair on the first d dims, in the engine's output form."""
    return to_output(prefix_scores(xb, xq, metric, d), metric)


def brute_force(xb, xq, k, metric, d=None):
    d = xb.shape[1] if d is None else d
    s = prefix_scores(xb, xq, metric, d)
    idx = np.argsort(s, axis=1, kind="stable")[:, :k]
    return to_output(np.take_along_axis(s, idx, 1), metric), idx


def two_stage(xb, xq, k, metric, scan_dim, rerank_k, rerank_dim):
    """Exhaustive scan on scan_dim keeping max(k, rerank_k), rerank on rerank_dim."""
    s1 = prefix_scores(xb, xq, metric, scan_dim)
    k1 = max(k, rerank_k)
    cand = np.argsort(s1, axis=1, kind="stable")[:, :k1]
    s2 = prefix_scores(xb, xq, metric, rerank_dim)
    cs = np.take_along_axis(s2, cand, 1)
    order = np.argsort(cs, axis=1, kind="stable")[:, :k]
    return to_output(np.take_along_axis(cs, order, 1), metric), np.take_along_axis(cand, order, 1)


def assert_matches(D, I, Dref, Iref, xb_scores_out, tol=2e-4):
    """Checks a result against a reference up to float rounding.

    D must match Dref, and every returned id must have, in the reference score matrix
    (output convention), the distance reported for it: so I is a valid top-k even where
    near-ties make the order of equal distances differ.
    """
    D = np.asarray(D, np.float64)
    scale = max(1.0, float(np.abs(Dref).max()))
    assert D.shape == Dref.shape and I.shape == Iref.shape
    np.testing.assert_allclose(D, Dref, rtol=0, atol=tol * scale)
    assert (I >= 0).all()
    got = np.take_along_axis(xb_scores_out, I, 1)
    np.testing.assert_allclose(got, D, rtol=0, atol=tol * scale)
    for row in I:
        assert len(set(row.tolist())) == len(row), "duplicate ids in one result row"


def built_ivf(x, *args, **kwargs):
    """An ``adanns.IVFIndex(*args, **kwargs)`` trained on and holding the rows of ``x``."""
    import adanns

    index = adanns.IVFIndex(*args, **kwargs)
    index.train(x)
    index.add(x)
    return index


def assert_concurrent_searches_match(index, xq, settings, threads=4, rounds=5, window=100, k=10):
    """Several Python threads search one index at once, each with the settings in turn, on shifted
    windows of ``xq``; every answer must equal the single-threaded one (the core releases the GIL)."""
    import threading

    expected = [index.search(xq, k, **s) for s in settings]
    span = max(1, xq.shape[0] - window)
    errors = []

    def worker(t):
        try:
            for r in range(rounds):
                s = (t + r) % len(settings)
                lo = (t * 97 + r * 31) % span
                D, I = index.search(xq[lo : lo + window], k, **settings[s])
                np.testing.assert_array_equal(I, expected[s][1][lo : lo + window])
                np.testing.assert_array_equal(D, expected[s][0][lo : lo + window])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors[0]
    return expected


def run_while_searching(check, mutate, readers=3):
    """Calls ``check()`` in a loop on ``readers`` threads while ``mutate()`` runs on this one,
    then stops them; fails with the first exception a reader raised (``check`` asserts on what a
    search returned, so a wrong answer counts as one). Exceptions of ``mutate`` propagate."""
    import threading

    stop = threading.Event()
    errors = []

    def reader():
        try:
            while not stop.is_set():
                check()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    pool = [threading.Thread(target=reader) for _ in range(readers)]
    for t in pool:
        t.start()
    try:
        mutate()
    finally:
        stop.set()
        for t in pool:
            t.join()
    assert not errors, errors[0]


def run_script(tmp_path, code, *args, timeout=120, env=None):
    """Runs ``code`` (dedented) as a script in a fresh interpreter with cwd ``tmp_path`` (outside
    the source tree, so the installed package is imported); ``env`` adds environment variables."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=dict(os.environ, **(env or {})))
