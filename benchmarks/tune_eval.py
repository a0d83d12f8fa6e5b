"""Checks compute-aware search on held-out queries (issue: compute-aware search bar).

For each dataset: build an IVF index, tune it on a sample of queries, pick the setting for
target_recall=0.95, and evaluate it on held-out queries (not the tuning sample). Then run the
full grid of the same settings space on the held-out queries and find the cheapest setting
that reaches the same recall, to compare costs (paper's multiply-add model, actual list sizes).

    python benchmarks/tune_eval.py [--out docs/results/tune_eval.json] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import adanns
from adanns.datasets import load_glove50, make_synthetic
from adanns.bench.report import write_json
from adanns.evaluation import CostModel, ground_truth, recall_at_k
from adanns.tuning import default_space


def evaluate(name, xb, xq_tune, xq_held, metric, nlist, coarse_dim, target=0.95, k=10):
    t = time.perf_counter()
    index = adanns.IVFIndex(xb.shape[1], nlist, coarse_dim=coarse_dim, metric=metric, seed=1)
    index.train(xb)
    index.add(xb)
    build = time.perf_counter() - t
    t = time.perf_counter()
    ops = index.tune(xq_tune, k, seed=0)
    tune_s = time.perf_counter() - t
    chosen = index.operating_point(target_recall=target)
    gt = ground_truth(xb, xq_held, k, metric)
    _, I = index.search(xq_held, k, **chosen.settings())
    held_recall = recall_at_k(I, gt, k)

    # the full grid of the same space on the held-out queries; costs by the one cost model
    # (adanns.cost), its probed list sizes measured on the held-out queries
    sp = default_space(index, k)
    model = CostModel(index, xq_held, sp["nprobe"], sp["probe_dim"])

    def cost(pd, p, sd, rk, rd):
        return model(dict(probe_dim=pd, nprobe=p, scan_dim=sd, rerank_k=rk, rerank_dim=rd))

    t = time.perf_counter()
    grid = []
    for pd, p, sd, rk, rd in itertools.product(*(sp[key] for key in ("probe_dim", "nprobe", "scan_dim", "rerank_k", "rerank_dim"))):
        _, Ig = index.search(xq_held, k, nprobe=p, probe_dim=pd, scan_dim=sd, rerank_k=rk, rerank_dim=rd)
        grid.append(dict(probe_dim=pd, nprobe=p, scan_dim=sd, rerank_k=rk, rerank_dim=rd,
                         recall=recall_at_k(Ig, gt, k), cost=cost(pd, p, sd, rk, rd)))
    grid_s = time.perf_counter() - t
    chosen_cost = cost(*[chosen.settings()[key] for key in ("probe_dim", "nprobe", "scan_dim", "rerank_k", "rerank_dim")])
    reach_target = [g for g in grid if g["recall"] >= target]
    reach_same = [g for g in grid if g["recall"] >= held_recall]
    best_target = min(reach_target, key=lambda g: g["cost"]) if reach_target else None
    best_same = min(reach_same, key=lambda g: g["cost"]) if reach_same else None
    row = dict(
        dataset=name, n=int(xb.shape[0]), dim=int(xb.shape[1]), metric=metric, nlist=nlist, coarse_dim=coarse_dim,
        tune_queries=int(len(xq_tune)), heldout_queries=int(len(xq_held)), build_s=build, tune_s=tune_s,
        grid_settings=len(grid), grid_s=grid_s, operating_points=len(ops.points),
        chosen=chosen.settings(), chosen_tune_recall=chosen.recall, chosen_heldout_recall=held_recall,
        chosen_heldout_cost=chosen_cost,
        cheapest_grid_reaching_same_recall=best_same,
        cost_ratio_vs_same=(chosen_cost / best_same["cost"]) if best_same else None,
        cheapest_grid_reaching_target=best_target,
        cost_ratio_vs_target=(chosen_cost / best_target["cost"]) if best_target else None,
    )
    print(json.dumps({k2: v for k2, v in row.items()}, indent=1), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = []
    ds = make_synthetic(50_000 if args.quick else 200_000, 3_000, 128, seed=7)
    rows.append(evaluate("synthetic-matryoshka", ds.xb, ds.xq[:1000], ds.xq[1000:], "l2",
                         256 if args.quick else 512, 32))
    if not args.quick:
        g = load_glove50(n_query=10_000, seed=0)
        rows.append(evaluate("glove-50", g.xb, g.xq[:1000], g.xq[1000:3000], "cosine", 1024, 50))
    if args.out:
        write_json(args.out, rows, indent=2)


if __name__ == "__main__":
    main()
