"""IVFIndex(transform="pca") from a saved and reloaded file against PCATransform applied by hand,
on GloVe-50 (cosine, not Matryoshka-trained): recall@10 and QPS at the same settings, one run.
The query time of the stored transform includes rotating the queries.

    python benchmarks/transform_glove.py [--out docs/results/transform_glove.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile


import adanns
from adanns._measure import best_time
from adanns.bench.report import write_json
from adanns.datasets import load_glove50
from adanns.evaluation import ground_truth, recall_at_k
from adanns.transforms import PCATransform


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nq", type=int, default=5_000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ds = load_glove50(n_query=args.nq, seed=0)
    xb, xq = ds.xb, ds.xq
    d = xb.shape[1]
    gt = ground_truth(xb, xq, 10, "cosine")

    auto = adanns.IVFIndex(d, args.nlist, coarse_dim=25, metric="cosine", transform="pca")
    auto.train(xb)
    auto.add(xb)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "glove.adanns")
        auto.save(path)
        auto = adanns.load(path)
    t = PCATransform.for_metric("cosine").fit(xb)
    xbr, xqr = t.apply(xb), t.apply(xq)
    manual = adanns.IVFIndex(d, args.nlist, coarse_dim=25, metric="cosine")
    manual.train(xbr)
    manual.add(xbr)

    rows = []
    print(f"{'setting':<40} {'auto rec':>8} {'manual rec':>10} {'auto QPS':>9} {'manual QPS':>10} {'ratio':>6} same-ids")
    for s in (dict(nprobe=16), dict(nprobe=32, scan_dim=25, rerank_k=100), dict(nprobe=64, scan_dim=16, rerank_k=200)):
        Ia = auto.search(xq, 10, **s)[1]
        Im = manual.search(xqr, 10, **s)[1]
        ta = best_time(lambda: auto.search(xq, 10, **s), args.repeat)
        tm = best_time(lambda: manual.search(xqr, 10, **s), args.repeat)
        ra, rm = recall_at_k(Ia, gt, 10), recall_at_k(Im, gt, 10)
        same = bool((Ia == Im).all())
        rows.append(dict(setting=s, auto_recall=ra, manual_recall=rm, auto_qps=len(xq) / ta, manual_qps=len(xq) / tm,
                         same_ids=same))
        print(f"{str(s):<40} {ra:>8.4f} {rm:>10.4f} {len(xq) / ta:>9.0f} {len(xq) / tm:>10.0f} {tm / ta:>6.2f} {same}")
    if args.out:
        write_json(args.out, dict(n=int(xb.shape[0]), nq=int(xq.shape[0]), nlist=args.nlist, rows=rows))


if __name__ == "__main__":
    main()
