"""Rigid vs adaptive IVF settings timed in interleaved rounds on real embeddings.

One index (cached in ``--cache``, built by ``stages_real.real_setup``); every round times each setting
once (best of ``--repeat`` batch searches), in turn, so that a slow minute on a shared machine
hits every setting alike; the median QPS over ``--rounds`` rounds is reported with the recall
and the ratio of each to the best rigid setting (float rows, scan_dim = dim, no rerank) that
reaches the same recall target.

    python benchmarks/ivf_rounds.py --data /work/shared/data/docs_minilm384_f16.npy \
        --cache /tmp/docs384.adanns --rounds 9 --out ivf_rounds.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from adanns.evaluation import recall_at_k
from stages_real import real_setup  # (this folder: python benchmarks/ivf_rounds.py)

# (label, scan_store, nprobe, scan_dim, rerank_k, probe_dim; 0: coarse_dim)
SETTINGS = [
    ("rigid", "float32", 16, 0, 0, 0),
    ("rigid", "float32", 20, 0, 0, 0),
    ("rigid", "float32", 24, 0, 0, 0),
    ("adaptive", "float32", 16, 192, 30, 64),
    ("adaptive", "float32", 32, 192, 30, 0),
    ("adaptive", "float32", 40, 192, 30, 64),
    ("adaptive-int8", "int8", 16, 256, 20, 64),
    ("adaptive-int8", "int8", 24, 256, 20, 128),
    ("adaptive-int8", "int8", 28, 256, 20, 128),
    ("adaptive-int8", "int8", 32, 256, 20, 128),
    ("adaptive-int8", "int8", 40, 256, 20, 64),
    ("adaptive-int8", "int8", 32, 192, 20, 128),
    ("int8-all-dims", "int8", 32, 0, 20, 128),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/docs_minilm384_f16.npy")
    ap.add_argument("--n-query", type=int, default=2000)
    ap.add_argument("--nlist", type=int, default=1233)
    ap.add_argument("--coarse-dim", type=int, default=384)
    ap.add_argument("--cache", default=None, help="index file: loaded when present, else built and saved")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    index, xb, xq, gt = real_setup(a.data, a.n_query, a.nlist, a.coarse_dim, a.cache)
    d = xb.shape[1]

    def kw(s):
        _, _, p, sd, rk, pd = s
        out = dict(nprobe=p, scan_dim=sd or d, rerank_k=rk)
        if pd:
            out["probe_dim"] = pd
        return out

    recall = {}
    for s in SETTINGS:
        index.scan_store = s[1]
        recall[s] = recall_at_k(index.search(xq, 10, **kw(s))[1], gt, 10)
    qps = {s: [] for s in SETTINGS}
    for _ in range(a.rounds):
        for s in SETTINGS:
            index.scan_store = s[1]
            best = float("inf")
            for _ in range(a.repeat):
                t = time.perf_counter()
                index.search(xq, 10, **kw(s))
                best = min(best, time.perf_counter() - t)
            qps[s].append(len(xq) / best)
    rows = []
    for s in SETTINGS:
        med = statistics.median(qps[s])
        rows.append(dict(kind=s[0], scan_store=s[1], **kw(s), recall=recall[s], qps_median=med,
                         qps_min=min(qps[s]), qps_max=max(qps[s])))
        print(f"{s[0]:14s} {s[1]:7s} {json.dumps(kw(s)):70s} R {recall[s]:.3f}  QPS {med:8.0f} "
              f"({min(qps[s]):.0f}-{max(qps[s]):.0f})", flush=True)
    summary = {}
    for target in (0.90, 0.95):
        best = {}
        for r in rows:
            if r["recall"] >= target and (r["kind"] not in best or r["qps_median"] > best[r["kind"]]["qps_median"]):
                best[r["kind"]] = r
        summary[str(target)] = best
        if "rigid" in best:
            for kind, r in best.items():
                print(f"recall >= {target}: {kind:14s} {r['qps_median']:8.0f} QPS "
                      f"= {r['qps_median'] / best['rigid']['qps_median']:.2f}x rigid")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(rows=rows, summary=summary, rounds=a.rounds, n_base=int(xb.shape[0]),
                           n_query=int(xq.shape[0]), nlist=a.nlist, threads=os.cpu_count()), f, indent=1)


if __name__ == "__main__":
    main()
