"""GraphIndex (issue 11) against the graph peers, all timings taken in one run.

Data: real 384-d sentence embeddings (``--data``, default /work/shared/data/docs_minilm384_f16.npy:
float16 -> float32, L2-normalised, inner product). The model is not Matryoshka-trained, so a
PCA rotation (adanns.transforms.PCATransform, no centering: inner products are preserved)
orders the dims by energy first. ``--queries`` rows (seeded) are held out as queries.

Methods (batch search on ``--threads`` threads; single-query latency on one query at a time):
  adanns-graph        GraphIndex walked on a ``--graph-dim`` prefix, exact rerank on 384 dims
  adanns-graph-int8   the same with the walk prefix stored as int8 codes (store="int8", on a
                      ``--graph-dim-int8`` prefix, default 248 dims: 256-byte rows)
  adanns-graph-full   the same code with graph_dim = 384 (the full-dim walk), float32
  svs-vamana          Intel SVS Vamana, float32 (degree 32, window 64, alpha 0.95 for MIP)
  faiss-hnsw          Faiss IndexHNSWFlat M=32
  hnswlib             hnswlib M=16 (32 links on layer 0, like HNSW32)

The peers and the sweep measurement (best of a few batch timings, p50 of single queries, file
size per vector) are those of the project benchmark (adanns/bench/). The machine is shared
and its load drifts over minutes, so after the sweeps a head-to-head phase takes, for every
method, the cheapest setting reaching the target recall and times those settings in interleaved
rounds (``--rounds``): the reported QPS and p50 are the medians over the rounds, and the ratios
compare numbers taken within the same few seconds. Output: a table on stdout and ``--out`` (JSON).

    python benchmarks/graph_vs_peers.py [--n 0] [--graph-dim 192] [--out docs/results/graph_vs_peers.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional

import numpy as np

import adanns
from adanns.bench.config import Context, MethodReport, Setting, SweepConfig
from adanns.bench.data import cached_ground_truth
from adanns.bench.measure import _path_size, measure, recall
from adanns.bench.methods.base import Method
from adanns.bench.methods.faiss import FaissHNSW
from adanns.bench.methods.graphs import HnswLib, SVSVamana
from adanns.transforms import PCATransform

DEFAULT_DATA = "/work/shared/data/docs_minilm384_f16.npy"
# the beam / window / ef values every method sweeps (steps of 2 where recall 0.95 is reached)
GRID = [10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 32, 40, 48, 64, 96, 128, 192, 256, 384]


class AdannsGraph(Method):
    """GraphIndex in the benchmark harness; ``graph_dim=None`` walks on all dims."""

    library = "adanns"

    def __init__(self, ctx: Context, graph_dim: Optional[int], degree: int, build_beam: int, alpha: float,
                 store: str = "float32") -> None:
        super().__init__(ctx)
        d = ctx.dim
        self.family = "adanns-graph" if graph_dim is not None and graph_dim < d else "adanns-graph-full"
        if store != "float32":
            self.family += f"-{store}"
        self.build_params = {"graph_dim": graph_dim or d, "degree": degree, "build_beam": build_beam, "alpha": alpha,
                             "store": store}
        self._name_keys = ("graph_dim", "store")

    def build(self) -> None:
        p = self.build_params
        self.index = adanns.GraphIndex(self.ctx.dim, p["graph_dim"], p["degree"], self.ctx.metric,
                                       build_beam=p["build_beam"], alpha=p["alpha"], store=p["store"])
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        beams = GRID[:-1]
        if self.family == "adanns-graph-full":  # the walk is already exact: rerank k only
            return [[{"beam": b, "rerank_k": 10} for b in beams]]
        return [[{"beam": b, "rerank_k": b} for b in beams], [{"beam": b, "rerank_k": max(10, b // 2)} for b in beams]]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        return self.index.search(xq, k, beam=s["beam"], rerank_k=s["rerank_k"])[1]

    def serialize(self, directory: str) -> Optional[str]:
        path = os.path.join(directory, "graph.adanns")
        self.index.save(path)
        return path


def load_data(path: str, n: int, nq: int, seed: int):
    x = np.load(path).astype(np.float32)
    if n:
        x = x[:n]
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perm = np.random.default_rng(seed).permutation(len(x))
    xq, xb = x[perm[:nq]], x[perm[nq:]]
    pca = PCATransform.for_metric("ip").fit(xb)
    return np.ascontiguousarray(pca.apply(xb)), np.ascontiguousarray(pca.apply(xq))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=0, help="use the first n rows (0: all)")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--graph-dim", type=int, default=192)
    ap.add_argument("--graph-dim-int8", type=int, default=248,
                    help="graph_dim of the int8 store (248: rows of 256 bytes, four cache lines; its cheap "
                         "rows pay for a longer prefix than the float32 walk's)")
    ap.add_argument("--build-beam-int8", type=int, default=96,
                    help="build beam of the int8 graph (96: its 248-dim build then takes no longer than SVS's)")
    ap.add_argument("--degree", type=int, default=32)
    ap.add_argument("--build-beam", type=int, default=128)
    ap.add_argument("--alpha", type=float, default=1.2)
    ap.add_argument("--families",
                    default="adanns-graph,adanns-graph-int8,adanns-graph-full,svs-vamana,faiss-hnsw,hnswlib")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--n-single", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--gt-cache", default=os.path.join(tempfile.gettempdir(), "adanns-gt"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    xb, xq = load_data(args.data, args.n, args.queries, args.seed)
    metric = "ip"
    gt, _ = cached_ground_truth(xb, xq, metric, 100, args.gt_cache)
    cfg = SweepConfig(threads=args.threads, stop_recall=0.985, n_single=args.n_single, n_recall100=0,
                      efs=GRID, seed=args.seed,
                      hnsw_m=32, hnswlib_m=16)
    ctx = Context(xb, xq, gt, metric, cfg)
    fams = args.families.split(",")
    methods: List[Method] = []
    for f in fams:
        if f == "adanns-graph":
            methods.append(AdannsGraph(ctx, args.graph_dim, args.degree, args.build_beam, args.alpha))
        elif f == "adanns-graph-int8":
            methods.append(AdannsGraph(ctx, args.graph_dim_int8, args.degree, args.build_beam_int8, args.alpha, "int8"))
        elif f == "adanns-graph-full":
            methods.append(AdannsGraph(ctx, None, args.degree, args.build_beam, args.alpha))
        elif f == "svs-vamana":
            methods.append(SVSVamana(ctx))
        elif f == "faiss-hnsw":
            methods.append(FaissHNSW(ctx))
        elif f == "hnswlib":
            methods.append(HnswLib(ctx))
        else:
            raise SystemExit(f"unknown family {f}")
    # 1. build and sweep every method (kept alive for the head-to-head phase)
    reports: List[MethodReport] = []
    live: List[Method] = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            rep = MethodReport(m.name, m.family, m.library, "ok", build_params=dict(m.build_params))
            reason = m.check()
            if reason is not None:
                rep.status, rep.reason = "skipped", reason
                reports.append(rep)
                print(f"[{m.name}] skipped: {reason}", flush=True)
                continue
            t = time.perf_counter()
            m.build()
            rep.build_seconds = time.perf_counter() - t
            d = tempfile.mkdtemp(dir=tmp)
            path = m.serialize(d)
            rep.bytes_per_vector = _path_size(path) / xb.shape[0] if path else None
            print(f"[{m.name}] built in {rep.build_seconds:.1f} s, {rep.bytes_per_vector or 0:.0f} B/vector in its file",
                  flush=True)
            for series in m.series():
                for st in series:
                    meas = measure(m, ctx, st)
                    rep.results.append(meas)
                    print(f"[{m.name}] {st} R@10 {meas.recall_at_10:.4f} QPS {meas.qps:.0f} "
                          f"p50 {meas.latency_p50_ms:.3f} ms", flush=True)
                    if meas.recall_at_10 >= cfg.stop_recall:
                        break
            reports.append(rep)
            live.append(m)

    # 2. head-to-head: per method, the cheapest setting at the target = the first one reaching it
    #    in each series (the series are ordered by cost); among series, the fastest in the sweep
    chosen: Dict[str, Dict[str, Any]] = {}
    for m, rep in zip(live, [r for r in reports if r.status == "ok"]):
        ok = [x for x in rep.results if x.recall_at_10 >= args.target]
        if not ok:
            continue
        firsts = []
        for series in m.series():
            for st in series:
                hit = [x for x in ok if x.params == st]
                if hit:
                    firsts.append(hit[0])
                    break
        best = max(firsts, key=lambda x: x.qps)
        chosen[m.family] = {"method": m, "setting": best.params, "sweep": asdict(best), "qps": [], "p50": []}
    ns = min(args.n_single, xq.shape[0])
    for rnd in range(args.rounds):
        order = list(chosen) if rnd % 2 == 0 else list(chosen)[::-1]
        for fam in order:
            c = chosen[fam]
            m, st = c["method"], c["setting"]
            t = time.perf_counter()
            ids = m.search(xq, cfg.k, st)
            c["qps"].append(xq.shape[0] / (time.perf_counter() - t))
            c["recall"] = recall(ids, gt, cfg.k)
            lat = np.empty(ns)
            for i in range(ns):
                t0 = time.perf_counter()
                m.search(xq[i : i + 1], cfg.k, st, single=True)
                lat[i] = time.perf_counter() - t0
            c["p50"].append(float(np.percentile(lat, 50) * 1e3))
        print(f"round {rnd}: " + ", ".join(f"{f} {chosen[f]['qps'][-1]:.0f}" for f in chosen), flush=True)

    rows: Dict[str, Dict[str, Any]] = {}
    for rep in reports:
        c = chosen.get(rep.family)
        rows[rep.family] = {
            "status": rep.status, "reason": rep.reason, "build_params": rep.build_params,
            "build_seconds": rep.build_seconds, "file_bytes_per_vector": rep.bytes_per_vector,
            "memory_bytes_per_vector": next((m.index.bytes_per_vector() for m in live
                                             if m.family == rep.family and isinstance(m, AdannsGraph)), None),
            "best": None if c is None else {
                "params": c["setting"], "recall_at_10": c["recall"], "qps": float(np.median(c["qps"])),
                "qps_rounds": c["qps"], "latency_p50_ms": float(np.median(c["p50"])), "sweep": c["sweep"]},
        }

    def q(fam: str) -> Optional[float]:
        b = rows.get(fam, {}).get("best")
        return None if b is None else b["qps"]

    ratios = {}
    for a, b in (("adanns-graph", "svs-vamana"), ("adanns-graph", "faiss-hnsw"), ("adanns-graph", "hnswlib"),
                 ("adanns-graph-int8", "svs-vamana"), ("adanns-graph-int8", "faiss-hnsw"),
                 ("adanns-graph", "adanns-graph-full"), ("adanns-graph-int8", "adanns-graph-full"),
                 ("adanns-graph-full", "svs-vamana")):
        if q(a) and q(b):
            # median of the per-round ratios: each round's numbers were taken seconds apart
            ra, rb = rows[a]["best"]["qps_rounds"], rows[b]["best"]["qps_rounds"]
            ratios[f"{a} / {b}"] = float(np.median(np.asarray(ra) / np.asarray(rb)))
    print(f"\nrecall@10 >= {args.target}, {xb.shape[0]} x {xb.shape[1]}, {xq.shape[0]} queries, {args.threads} threads")
    print(f"{'family':<20}{'setting':<32}{'R@10':>7}{'QPS':>9}{'p50 ms':>8}{'build s':>9}{'file B':>8}{'mem B':>8}")
    for fam, r in rows.items():
        b = r["best"]
        if b is None:
            print(f"{fam:<20}{'(target not reached)' if r['status'] == 'ok' else r['reason']}")
            continue
        setting = ",".join(f"{k}={v}" for k, v in b["params"].items())
        print(f"{fam:<20}{setting:<32}{b['recall_at_10']:>7.4f}{b['qps']:>9.0f}{b['latency_p50_ms']:>8.3f}"
              f"{r['build_seconds']:>9.1f}{(r['file_bytes_per_vector'] or 0):>8.0f}{r['memory_bytes_per_vector'] or '-':>8}")
    for k, v in ratios.items():
        print(f"QPS ratio {k}: {v:.2f}x (median of per-round ratios)")
    if args.out:
        out = {
            "dataset": {"path": args.data, "n_base": int(xb.shape[0]), "n_query": int(xq.shape[0]),
                        "dim": int(xb.shape[1]), "metric": metric, "transform": "PCA rotation (no centering)"},
            "threads": args.threads, "target_recall": args.target,
            "environment": {"machine": platform.machine(), "cpus": os.cpu_count(), "simd": adanns.simd_level(),
                            "date": time.strftime("%Y-%m-%d %H:%M:%S")},
            "summary": rows, "ratios": ratios,
            "reports": [asdict(r) for r in reports],
            "note": "QPS / p50 in 'summary' are medians over interleaved head-to-head rounds at each method's "
                    "cheapest setting reaching the target in the sweep",
        }
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
