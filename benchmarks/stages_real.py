"""Per-stage cost of the adaptive pipeline on real embeddings (issue 10's table).

Holds out queries from an embedding matrix (e.g. ``docs_minilm384_f16.npy``), PCA-orders it,
builds one IVF index (cached in ``--cache``), and for each (nprobe, scan_dim, rerank_k) reports
recall@10, batch QPS (best of ``--repeat``) and the thread time per query of each stage from
``adanns.SearchStats``, with the rerank cost per reranked candidate and the scan cost per scanned
row, and the process CPU time per query (all threads; on a shared machine it varies less than
the wall time). The front grid also scans the int8 copy (``IVFIndex.scan_store = "int8"``, always
reranked). Then, at each recall target, the best rigid (float rows, scan_dim = dim, no rerank),
adaptive (float rows, scan_dim < dim), adaptive-int8 (int8, scan_dim < dim) and int8-all-dims QPS.

    python benchmarks/stages_real.py --data /work/shared/data/docs_minilm384_f16.npy \
        --cache /tmp/docs384.adanns [--grid table|front] [--out stages.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import adanns
from adanns.datasets import load_dataset
from adanns.evaluation import ground_truth, recall_at_k, timed
from adanns.transforms import PCATransform

# (nprobe, scan_dim, rerank_k, probe_dim; 0: coarse_dim)
TABLE = [(16, 384, 0, 0, "float32"), (16, 128, 0, 0, "float32"), (16, 128, 30, 0, "float32"),
         (16, 128, 100, 0, "float32"), (16, 64, 0, 0, "float32"), (16, 64, 100, 0, "float32"),
         (16, 32, 0, 0, "float32"), (16, 32, 10, 0, "float32")]


def front_grid(dim):
    """(nprobe, scan_dim, rerank_k, probe_dim, scan_store): the rigid rows, then the adaptive ones
    on the float rows and on the int8 copy (which also scans all dims, reranked)."""
    g = [(p, dim, 0, 0, "float32") for p in (8, 16, 20, 24, 32, 48, 64)]
    for p in (16, 24, 32, 40, 48, 64):
        for sd in (64, 128, 192):
            for rk in (30, 100):
                for pd in (64, 0):
                    g.append((p, sd, rk, pd, "float32"))
        for sd in (128, 192, 256, dim):
            for rk in (20, 40):
                for pd in (64, 128, 0):
                    g.append((p, sd, rk, pd, "int8"))
    return g


def real_setup(data, n_query, nlist, coarse_dim, cache):
    """(index, xb, xq, gt): the embeddings' held-out split, PCA-ordered; an inner-product IVF index
    on it, loaded from ``cache`` when that file exists, else built (and saved there); the exact
    top-10 of each query. Shared with ``ivf_rounds.py``."""
    ds = load_dataset("npy:" + data, n_query=n_query, metric="ip", seed=0)
    xb = np.ascontiguousarray(ds.xb, dtype=np.float32)
    xq = np.ascontiguousarray(ds.xq, dtype=np.float32)
    tr = PCATransform.for_metric("ip", seed=0).fit(xb)
    xb, xq = tr.apply(xb), tr.apply(xq)
    if cache and os.path.exists(cache):
        index = adanns.load(cache)
    else:
        index = adanns.IVFIndex(xb.shape[1], nlist, coarse_dim=coarse_dim, metric="ip", seed=1)
        index.train(xb)
        index.add(xb)
        if cache:
            index.save(cache)
    return index, xb, xq, ground_truth(xb, xq, 10, "ip")


def cpu_time(fn):
    """Process CPU time of one call (all threads): less sensitive than wall time to a loaded machine."""
    c = time.process_time()
    fn()
    return time.process_time() - c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/docs_minilm384_f16.npy")
    ap.add_argument("--n-query", type=int, default=2000)
    ap.add_argument("--nlist", type=int, default=1233)
    ap.add_argument("--coarse-dim", type=int, default=384)
    ap.add_argument("--probe-dim", type=int, default=0, help="0: coarse_dim")
    ap.add_argument("--cache", default=None, help="index file: loaded when present, else built and saved")
    ap.add_argument("--grid", default="table", choices=("table", "front"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    index, xb, xq, gt = real_setup(a.data, a.n_query, a.nlist, a.coarse_dim, a.cache)
    d = xb.shape[1]
    grid = TABLE if a.grid == "table" else front_grid(d)
    rows = []
    for p, sd, rk, pd, store in grid:
        index.scan_store = store
        kw = dict(nprobe=p, scan_dim=sd, rerank_k=rk)
        if pd or a.probe_dim:
            kw["probe_dim"] = pd or a.probe_dim
        (_, I), t = timed(lambda: index.search(xq, 10, **kw), repeat=a.repeat)
        cpu = min(cpu_time(lambda: index.search(xq, 10, **kw)) for _ in range(a.repeat))
        st = adanns.SearchStats()
        index.search(xq, 10, stats=st, **kw)
        us = st.per_query_us()
        r = dict(scan_store=store, nprobe=p, scan_dim=sd, rerank_k=rk, probe_dim=kw.get("probe_dim", a.coarse_dim), recall=recall_at_k(I, gt, 10), qps=len(xq) / t,
                 cpu_us=1e6 * cpu / len(xq),
                 coarse_us=us["coarse"], scan_us=us["scan"], rerank_us=us["rerank"], output_us=us["output"],
                 scan_ns_row=1e9 * st.scan_s / max(1, st.rows_scanned),
                 rerank_ns_cand=1e9 * st.rerank_s / st.candidates_reranked if st.candidates_reranked else None)
        rows.append(r)
        print(f"{store:7s} probe_dim {r['probe_dim']:3d} nprobe {p:3d} scan_dim {sd:3d} rerank_k {rk:3d}  recall {r['recall']:.3f}  QPS {r['qps']:8.0f}  cpu {r['cpu_us']:5.1f} us/q  "
              f"coarse {r['coarse_us']:6.1f} scan {r['scan_us']:6.1f} rerank {r['rerank_us']:6.1f} out {r['output_us']:4.1f} us/q  "
              f"scan {r['scan_ns_row']:5.2f} ns/row  rerank " + (f"{r['rerank_ns_cand']:6.1f} ns/cand" if r['rerank_ns_cand'] else "     - ns/cand"), flush=True)
    summary = {}
    kinds = (("rigid", lambda r: r["scan_store"] == "float32" and r["scan_dim"] == d and r["rerank_k"] == 0),
             ("adaptive", lambda r: r["scan_store"] == "float32" and r["scan_dim"] < d),
             ("adaptive-int8", lambda r: r["scan_store"] == "int8" and r["scan_dim"] < d),
             ("int8-all-dims", lambda r: r["scan_store"] == "int8" and r["scan_dim"] == d))
    for target in (0.90, 0.95, 0.99):
        best = {}
        for kind, ok in kinds:
            hit = [r for r in rows if ok(r) and r["recall"] >= target]
            best[kind] = max(hit, key=lambda r: r["qps"]) if hit else None
        rigid = best["rigid"]
        for kind, _ in kinds[1:]:
            b = best[kind]
            if rigid and b:
                print(f"recall >= {target}: {kind} {b['qps']:.0f} (probe_dim {b['probe_dim']} nprobe {b['nprobe']} "
                      f"scan_dim {b['scan_dim']} rerank_k {b['rerank_k']}) vs rigid {rigid['qps']:.0f} "
                      f"(nprobe {rigid['nprobe']}): {b['qps'] / rigid['qps']:.2f}x")
        summary[str(target)] = best
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(rows=rows, summary=summary, n_base=int(xb.shape[0]), n_query=int(xq.shape[0]),
                           nlist=a.nlist, coarse_dim=a.coarse_dim, threads=os.cpu_count()), f, indent=1)


if __name__ == "__main__":
    main()
