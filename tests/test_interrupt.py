"""Ctrl-C (SIGINT) during train / add / search of every index family, and fork() after use.

Each case runs in a subprocess (cwd outside the source tree) that starts a call sized to run for
many seconds (or unboundedly: k-means with 10^6 iterations), sends SIGINT to itself from a timer
thread once the call is under way, and reports how long the KeyboardInterrupt took to arrive
and whether the index is unchanged (same size, same answers to a fixed query set).
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from reference import run_script

SCRIPT = textwrap.dedent(
    r"""
    import hashlib, json, os, signal, sys, threading, time
    import numpy as np
    import adanns

    family, op = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    d = 32
    def data(n):
        return rng.standard_normal((n, d), dtype=np.float32)

    def make(trained=True, n=0, nlist=64):
        if family == "ivf":
            ix = adanns.IVFIndex(dim=d, nlist=nlist, niter=10**6 if not trained else 2)
        elif family == "flat":
            ix = adanns.FlatIndex(dim=d)
        elif family == "ivfpq":
            ix = adanns.IVFPQIndex(dim=d, nlist=nlist, m=8, niter=10**6 if not trained else 2,
                                   pq_niter=2, keep_full="ram")
        elif family == "pq":
            ix = adanns.PQIndex(dim=d, m=8, pq_niter=10**6 if not trained else 2, keep_full="ram")
        else:
            ix = adanns.GraphIndex(dim=d, degree=32, build_beam=64)
        if trained and hasattr(ix, "train") and family != "graph":
            ix.train(data(max(nlist * 4, 4096)))
        if n:
            ix.add(data(n))
        return ix

    probe_q = data(5)
    def snapshot(ix):
        if not getattr(ix, "is_trained", True) or ix.ntotal == 0:
            return [bool(getattr(ix, "is_trained", True)), int(ix.ntotal)]
        D, I = ix.search(probe_q, 3)
        out = [True, int(ix.ntotal), I.tolist(), np.round(D, 4).tolist()]
        if family == "graph":  # the whole graph, edges included: the saved file's bytes
            ix.save("snap.adanns")
            with open("snap.adanns", "rb") as f:
                out.append(hashlib.sha256(f.read()).hexdigest())
        return out

    if op == "train":
        ix = make(trained=False)
        x = data(20000)
        call = lambda: ix.train(x)
    elif op == "add":
        ix = make(n=1000, nlist=4096 if family in ("ivf", "ivfpq") else 64)
        x = data({"graph": 200_000, "pq": 1_000_000}.get(family, 1_000_000))
        call = lambda: ix.add(x)
    else:
        ix = make(n=100_000 if family == "graph" else 200_000)
        q = data(200_000)
        kw = {"nprobe": 64} if family in ("ivf", "ivfpq") else {}
        if family == "graph":
            kw = {"beam": 512}
        call = lambda: ix.search(q, 10, **kw)
    before = snapshot(ix)
    sent = []
    def fire():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    timer = threading.Timer(0.3, fire)
    t0 = time.monotonic()
    timer.start()
    try:
        call()
        out = {"interrupted": False, "elapsed": time.monotonic() - t0}
    except KeyboardInterrupt:
        out = {"interrupted": True, "latency": time.monotonic() - sent[0]}
    timer.join()
    out["unchanged"] = snapshot(ix) == before
    print(json.dumps(out))
    """
)

CASES = [
    ("ivf", "train"), ("ivf", "add"), ("ivf", "search"),
    ("flat", "search"),
    ("ivfpq", "train"), ("ivfpq", "add"), ("ivfpq", "search"),
    ("pq", "train"), ("pq", "add"), ("pq", "search"),
    ("graph", "add"), ("graph", "search"),
]


@pytest.mark.parametrize("family,op", CASES)
def test_sigint_stops_call_and_keeps_index(tmp_path, family, op):
    r = run_script(tmp_path, SCRIPT, family, op, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["interrupted"], f"the call ended before the signal: {out}"
    # Without cancellation the interrupt arrives only when the call ends (many seconds later).
    assert out["latency"] < 1.5, out
    assert out["unchanged"], out


FORK_SCRIPT = textwrap.dedent(
    r"""
    import multiprocessing as mp, sys
    import numpy as np
    import adanns

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((20000, 16), dtype=np.float32)
    xq = rng.standard_normal((2000, 16), dtype=np.float32)
    indexes = {
        "ivf": adanns.IVFIndex(dim=16, nlist=32),
        "flat": adanns.FlatIndex(dim=16),
        "ivfpq": adanns.IVFPQIndex(dim=16, nlist=32, m=4, keep_full="ram"),
        "pq": adanns.PQIndex(dim=16, m=4),
        "graph": adanns.GraphIndex(dim=16, degree=16, build_beam=32),
    }
    expected = {}
    for name, ix in indexes.items():
        if name != "graph" and name != "flat":
            ix.train(xb)
        ix.add(xb)
        expected[name] = ix.search(xq, 5)[1]  # the OpenMP pool is alive from here on

    def child(name, conn):
        ix = indexes[name]
        I = ix.search(xq, 5)[1]
        ix.add(xb[:100])
        conn.send(bool((I == expected[name]).all()))

    ctx = mp.get_context("fork")
    for name in indexes:
        a, b = ctx.Pipe()
        p = ctx.Process(target=child, args=(name, b))
        p.start()
        if not a.poll(60):
            p.kill()
            print(name, "hangs")
            sys.exit(1)
        assert a.recv(), name
        p.join(10)
        assert p.exitcode == 0, (name, p.exitcode)
    # the parent still searches in parallel afterwards
    assert (indexes["ivf"].search(xq, 5)[1] == expected["ivf"]).all()
    print("ok")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_fork_child_searches_after_parent_used_openmp(tmp_path):
    r = run_script(tmp_path, FORK_SCRIPT, timeout=240)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (r.stdout, r.stderr[-2000:])
