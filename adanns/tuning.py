"""Compute-aware search: measure recall and cost of settings on a query sample, keep the
Pareto front, and pick a setting per search from a recall target or a compute budget.

Settings are ``(probe_dim, nprobe, scan_dim, rerank_k, rerank_dim)``: the coarse probe may use a
shorter prefix than the clustering (AdANNS-IVF-D), the scan any prefix, the rerank any depth.

Cost model: the paper's multiply-add count per query with the index's actual list sizes,
``probe_dim * nlist + scan_dim * (mean size of the probed lists) + rerank_k * rerank_dim``;
the mean probed size is measured by probing the sample. Measured queries/second is recorded
for every point of the front as well.

Exploration is successive halving over the Pareto front, not a blind grid: every candidate
is first evaluated on a small subset of the sample, with ``nprobe`` swept upwards only until
recall stops improving; only candidates within a statistical margin of the front on that
subset are re-evaluated on twice as many queries, and so on up to the whole sample.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .evaluation import recall_at_k

_KEYS = ("probe_dim", "nprobe", "scan_dim", "rerank_k", "rerank_dim")


@dataclass(frozen=True)
class OperatingPoint:
    """One tuned setting with its measured recall@k, modelled cost and measured QPS."""

    probe_dim: int
    nprobe: int
    scan_dim: int
    rerank_k: int
    rerank_dim: int
    recall: float
    cost: float
    qps: float

    def settings(self) -> Dict[str, int]:
        """Keyword arguments for ``IVFIndex.search``."""
        return {key: getattr(self, key) for key in _KEYS}

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "OperatingPoint":
        ints = {k: int(d[k]) for k in _KEYS}
        if any(v < 0 for v in ints.values()):
            raise ValueError("negative setting")
        floats = {k: float(d[k]) for k in ("recall", "cost", "qps")}
        if not (0.0 <= floats["recall"] <= 1.0) or not np.isfinite(floats["cost"]) or floats["cost"] < 0:
            raise ValueError("invalid recall or cost")
        return OperatingPoint(**ints, **floats)


@dataclass
class OperatingPoints:
    """The Pareto front found by :func:`tune`, with the k it was measured at."""

    k: int
    points: List[OperatingPoint]

    def for_recall(self, target: float) -> OperatingPoint:
        """The cheapest point whose recall on the tuning sample reached ``target``."""
        ok = [p for p in self.points if p.recall >= target]
        if not ok:
            best = max(self.points, key=lambda p: p.recall)
            raise ValueError(
                f"no tuned setting reaches recall@{self.k} = {target}; the best reaches {best.recall:.4f} "
                f"with {best.settings()}. Tune with larger nprobe / rerank_k candidates or lower the target."
            )
        return min(ok, key=lambda p: (p.cost, -p.recall))

    def for_budget(self, budget: float) -> OperatingPoint:
        """The most accurate point whose modelled cost (multiply-adds per query) fits ``budget``."""
        ok = [p for p in self.points if p.cost <= budget]
        if not ok:
            cheapest = min(self.points, key=lambda p: p.cost)
            raise ValueError(
                f"no tuned setting fits a budget of {budget:.4g} multiply-adds per query; "
                f"the cheapest costs {cheapest.cost:.4g} ({cheapest.settings()})"
            )
        return max(ok, key=lambda p: (p.recall, -p.cost))

    def table(self) -> str:
        """A printable table of the front."""
        head = f"{'probe_dim':>9} {'nprobe':>6} {'scan_dim':>8} {'rerank_k':>8} {'rerank_dim':>10} " \
               f"{'recall@' + str(self.k):>10} {'MACs/query':>12} {'QPS':>9}"
        rows = [
            f"{p.probe_dim:>9} {p.nprobe:>6} {p.scan_dim:>8} {p.rerank_k:>8} {p.rerank_dim:>10} "
            f"{p.recall:>10.4f} {p.cost:>12.4g} {p.qps:>9.0f}"
            for p in self.points
        ]
        return "\n".join([head] + rows)

    def to_dict(self) -> Dict[str, Any]:
        return {"k": self.k, "points": [p.to_dict() for p in self.points]}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "OperatingPoints":
        k = int(d["k"])
        if k < 1:
            raise ValueError("k must be >= 1")
        pts = [OperatingPoint.from_dict(p) for p in d["points"]]
        if not pts:
            raise ValueError("no operating points")
        return OperatingPoints(k, pts)


def _powers(lo: int, hi: int) -> List[int]:
    out, v = [], lo
    while v < hi:
        out.append(v)
        v *= 2
    out.append(hi)
    return sorted(set(out))


def default_space(index: Any, k: int) -> Dict[str, List[int]]:
    """The settings explored by default for ``index`` and ``k``."""
    dim, cd, nlist, n = index.dim, index.coarse_dim, index.nlist, index.ntotal
    probe_dims = sorted({d for d in (cd, cd // 2, cd // 4) if d >= min(8, cd)})
    return {
        "probe_dim": probe_dims,
        "nprobe": _powers(1, max(1, min(nlist, 512))),
        "scan_dim": _powers(min(8, dim), dim),
        "rerank_k": sorted({0} | {min(n, m * k) for m in (2, 5, 10, 20, 50)}),
        "rerank_dim": [dim],
    }


def _pareto(points: Sequence[Tuple[float, float]]) -> np.ndarray:
    """Indices of the points (cost, recall) not dominated by a cheaper, at-least-as-accurate one."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    keep, best = [], -1.0
    for i in order:
        if points[i][1] > best:
            keep.append(i)
            best = points[i][1]
    return np.array(keep, dtype=np.int64)


def _front_recall_at(front: List[Tuple[float, float]], cost: float) -> float:
    """Best recall on the front at a cost not above ``cost``."""
    best = 0.0
    for c, r in front:
        if c <= cost:
            best = max(best, r)
    return best


def tune(
    index: Any,
    xq: np.ndarray,
    k: int = 10,
    *,
    space: Optional[Dict[str, Iterable[int]]] = None,
    seed: int = 0,
    first_round: int = 128,
    measure_qps: bool = True,
) -> OperatingPoints:
    """Explores settings of ``index`` on the sample ``xq`` (exact ground truth computed here)."""
    nq = xq.shape[0]
    if nq == 0:
        raise ValueError("tune needs at least one sample query")
    sp = default_space(index, k)
    if space:
        for key, vals in space.items():
            if key not in sp:
                raise ValueError(f"unknown setting {key!r}; expected one of {sorted(sp)}")
            sp[key] = sorted({int(v) for v in vals})
    # exact ground truth: every list, full dims, no rerank
    _, gt = index.search(xq, k, nprobe=index.nlist)
    sizes = index.list_sizes().astype(np.float64)
    nlist = index.nlist

    # modelled cost: mean probed list size for each (probe_dim, nprobe), from real probes
    max_np = max(sp["nprobe"])
    probed: Dict[Tuple[int, int], float] = {}
    for pd in sp["probe_dim"]:
        pr = index._core.probe(xq, max_np, pd)
        cum = np.cumsum(sizes[pr], axis=1).mean(axis=0)
        for p in sp["nprobe"]:
            probed[(pd, p)] = float(cum[p - 1])

    def cost(s: Tuple[int, ...]) -> float:
        pd, p, sd, rk, rd = s
        return pd * nlist + sd * probed[(pd, p)] + rk * rd

    rng = np.random.default_rng(seed)
    perm = rng.permutation(nq)

    def evaluate(settings: List[Tuple[int, ...]], m: int) -> Dict[Tuple[int, ...], float]:
        sub = perm[:m]
        q, g = xq[sub], gt[sub]
        out = {}
        for s in settings:
            pd, p, sd, rk, rd = s
            _, ids = index.search(q, k, nprobe=p, probe_dim=pd, scan_dim=sd, rerank_k=rk, rerank_dim=rd)
            out[s] = recall_at_k(ids, g, k)
        return out

    # Round 1: all (probe_dim, scan_dim, rerank_k, rerank_dim), nprobe swept upwards until
    # recall stops improving (recall is monotone in nprobe up to noise).
    m = min(nq, first_round)
    results: Dict[Tuple[int, ...], float] = {}
    for pd in sp["probe_dim"]:
        for sd in sp["scan_dim"]:
            for rk in sp["rerank_k"]:
                for rd in sp["rerank_dim"]:
                    if rk == 0 and rd != sp["rerank_dim"][-1]:
                        continue  # rerank_dim is irrelevant without rerank
                    prev, flat = -1.0, 0
                    for p in sp["nprobe"]:
                        s = (pd, p, sd, rk, rd)
                        r = evaluate([s], m)[s]
                        results[s] = r
                        flat = flat + 1 if r <= prev + 1e-3 else 0
                        prev = max(prev, r)
                        if r >= 1.0 or flat >= 2:
                            break
    survivors = list(results)
    # Successive halving: keep candidates near the front, double the queries, repeat.
    while True:
        pts = [(cost(s), results[s]) for s in survivors]
        front = [pts[i] for i in _pareto(pts)]
        margin = 2.0 * np.sqrt(0.25 / (m * k)) + 0.002
        survivors = [s for s, (c, r) in zip(survivors, pts) if r >= _front_recall_at(front, c) - margin]
        if m >= nq:
            break
        m = min(nq, 2 * m)
        results = evaluate(survivors, m)
    pts = [(cost(s), results[s]) for s in survivors]
    final = [survivors[i] for i in _pareto(pts)]

    points = []
    for s in final:
        pd, p, sd, rk, rd = s
        qps = 0.0
        if measure_qps:
            t = time.perf_counter()
            index.search(xq, k, nprobe=p, probe_dim=pd, scan_dim=sd, rerank_k=rk, rerank_dim=rd)
            qps = nq / max(time.perf_counter() - t, 1e-9)
        points.append(OperatingPoint(pd, p, sd, rk, rd, results[s], cost(s), qps))
    points.sort(key=lambda o: o.cost)
    return OperatingPoints(k, points)
