"""Compute-aware search: measure recall and cost of settings on a query sample, keep the
Pareto front, and pick a setting per search from a recall target or a compute budget.

Settings are ``(probe_dim, nprobe, scan_dim, rerank_k, rerank_dim)``: the coarse probe may use a
shorter prefix than the clustering (AdANNS-IVF-D), the scan any prefix, the rerank any depth.

Every index family tunes the same way: settings are the shared vocabulary of
:mod:`adanns.params` (an index fixes the keys its structure does not vary), and the cost is
the one model of :mod:`adanns.cost` (multiply-adds per query, probed list sizes measured on
the sample). Measured queries/second is recorded for every point of the front as well.
:class:`Tunable` gives every index ``search(target_recall=/budget=)``, ``tune`` and
``operating_points``.

Exploration is successive halving over the Pareto front, not a blind grid: every candidate
is first evaluated on a small subset of the sample, with ``nprobe`` swept upwards only until
recall stops improving; only candidates within a statistical margin of the front on that
subset are re-evaluated on twice as many queries, and so on up to the whole sample.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _progress
from ._measure import recall_at_k
from ._validation import as_int, as_matrix
from .cost import CostModel
from .filters import IDFilter, as_filter
from .params import KEYS as _KEYS
from .params import SearchStats


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
        """Keyword arguments for ``search`` (any index type)."""
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
        if ok:
            return min(ok, key=lambda p: (p.cost, -p.recall))
        best = max(self.points, key=lambda p: p.recall)
        raise ValueError(f"no tuned setting reaches recall@{self.k} = {target}; the best reaches {best.recall:.4f} "
                         f"with {best.settings()}. Tune with larger nprobe / rerank_k candidates or lower the target.")

    def for_budget(self, budget: float) -> OperatingPoint:
        """The most accurate point whose modelled cost (multiply-adds per query) fits ``budget``."""
        ok = [p for p in self.points if p.cost <= budget]
        if ok:
            return max(ok, key=lambda p: (p.recall, -p.cost))
        cheapest = min(self.points, key=lambda p: p.cost)
        raise ValueError(f"no tuned setting fits a budget of {budget:.4g} multiply-adds per query; "
                         f"the cheapest costs {cheapest.cost:.4g} ({cheapest.settings()})")

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
    """The settings explored by default for ``index`` and ``k`` (keys the index fixes get their
    one value); an index without lists (a graph) gives its own (``_default_space``)."""
    own = getattr(index, "_default_space", None)
    if own is not None:
        return own(k)
    dim, cd, nlist, n = index.dim, index.coarse_dim, index.nlist, index.ntotal
    probe_dims = sorted({d for d in (cd, cd // 2, cd // 4) if d >= min(8, cd)})
    space = {
        "probe_dim": probe_dims,
        "nprobe": _powers(1, max(1, min(nlist, 512))),
        "scan_dim": _powers(min(8, dim), dim),
        "rerank_k": sorted({0} | {min(n, m * k) for m in (2, 5, 10, 20, 50)}),
        "rerank_dim": [dim],
    }
    for key, value in index._fixed_settings().items():
        space[key] = [value]
    return space


def _check_space(space: Any, known: Mapping[str, Any]) -> Dict[str, List[int]]:
    """A tune ``space`` ({setting: candidate integers}) checked: a mapping of known settings to
    non-empty iterables of integers (ValueError / TypeError naming the setting otherwise)."""
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a dict of setting -> list of integers, got {type(space).__name__}")
    out: Dict[str, List[int]] = {}
    for key, vals in space.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r} in space; expected one of {sorted(known)}")
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Iterable):
            raise TypeError(f"space[{key!r}] must be a list of integers, got {type(vals).__name__}")
        out[key] = sorted({as_int(v, f"space[{key!r}]", 0) for v in vals})
        if not out[key]:
            raise ValueError(f"space[{key!r}] is empty")
    return out


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
    gt: Optional[np.ndarray] = None,
    progress: Optional[bool] = None,
) -> OperatingPoints:
    """Explores settings of ``index`` on the sample ``xq``; ``gt``: its exact top-k ids (default:
    computed by the index, ``index._exact_ground_truth``)."""
    nq = xq.shape[0]
    if nq == 0:
        raise ValueError("tune needs at least one sample query")
    sp = default_space(index, k)
    if space:
        sp.update(_check_space(space, sp))
    if gt is None:
        gt = index._exact_ground_truth(xq, k)
    elif gt.shape[0] != nq or gt.shape[1] < k:
        raise ValueError(f"gt must have shape ({nq}, >= {k}), got {gt.shape}")
    for key, vals in sp.items():  # every candidate is a valid setting of this index
        for v in vals:
            index._full_settings({key: v})
    model = CostModel(index, xq, sp["nprobe"], sp["probe_dim"])

    def cost(s: Tuple[int, ...]) -> float:
        return model(dict(zip(_KEYS, s)))

    rng = np.random.default_rng(seed)
    perm = rng.permutation(nq)

    with _progress.bar(_progress.wanted(progress, int(index.ntotal)), None, "adanns tune", "setting") as update:
        return _tune_rounds(index, xq, gt, k, sp, cost, perm, first_round, measure_qps, update)


def _tune_rounds(index: Any, xq: np.ndarray, gt: np.ndarray, k: int, sp: Dict[str, List[int]],
                 cost: Any, perm: np.ndarray, first_round: int, measure_qps: bool, update: Any) -> OperatingPoints:
    nq = xq.shape[0]

    def evaluate(settings: List[Tuple[int, ...]], m: int) -> Dict[Tuple[int, ...], float]:
        sub = perm[:m]
        q, g = xq[sub], gt[sub]
        out = {}
        for s in settings:
            pd, p, sd, rk, rd = s
            _, ids = index.search(q, k, nprobe=p, probe_dim=pd, scan_dim=sd, rerank_k=rk, rerank_dim=rd)
            out[s] = recall_at_k(ids, g, k)
            update(1)
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


class Tunable:
    """Compute-aware search for every index family: ``search`` with the shared keywords or a
    ``target_recall`` / ``budget``, ``tune``, ``operating_points``.

    An index provides ``_full_settings`` (defaults filled in and validated), ``_fixed_settings``,
    ``_cost_terms``, ``_probe``, ``_exact_ground_truth`` and ``_search_with``."""

    _operating_points: Optional[OperatingPoints] = None

    def search(
        self,
        xq: Any,
        k: int = 10,
        *,
        nprobe: Optional[int] = None,
        scan_dim: Optional[int] = None,
        rerank_k: Optional[int] = None,
        rerank_dim: Optional[int] = None,
        probe_dim: Optional[int] = None,
        target_recall: Optional[float] = None,
        budget: Optional[float] = None,
        stats: Optional[SearchStats] = None,
        filter: Any = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` search of the rows of ``xq`` (nq, dim).

        Args:
            k: neighbours per query (at most ``ntotal``).
            nprobe: lists probed per query (1..nlist; default 1).
            scan_dim: prefix length for the list scan (default: all dims; fixed to ``pq_dim``
                for a PQ index).
            rerank_k: if > 0, keep ``max(k, rerank_k)`` scan candidates and re-score them
                exactly on ``rerank_dim`` dims; 0 (default) returns the scan's ranking.
            rerank_dim: prefix length of the rerank (default: all dims).
            probe_dim: prefix of the centroids used to choose the lists (1..coarse_dim,
                default coarse_dim): probing with fewer dims than the clustering used.
            target_recall: instead of explicit settings, use the cheapest tuned operating
                point whose recall on the tuning sample reached this value (needs :meth:`tune`).
            budget: instead of explicit settings, the most accurate tuned operating point
                whose modelled cost fits this many multiply-adds per query (:mod:`adanns.cost`).
            stats: a :class:`adanns.SearchStats` to which this call adds its per-stage thread
                time (coarse, scan, rerank, output) and work counters.
            filter: only ids it allows are returned: an integer array of allowed ids, a boolean
                mask over ids, or an :class:`adanns.IDFilter` (the fast, reusable form). Applied
                inside the scan (see :mod:`adanns.filters`); at exact settings the result is the
                exact top-k of the allowed subset.

        Returns:
            ``(D, I)``, both (nq, k): distances (squared L2, ascending) or similarities
            (ip / cosine, descending), and ids; ``-1`` ids (and +/-inf distances) where
            fewer than k candidates were found.

        Raises:
            ValueError: bad shapes or values, a setting this index type does not vary;
                ``target_recall``/``budget`` that no tuned point meets (the message names the
                closest one), or combined with explicit settings.
            RuntimeError: not trained, or ``target_recall``/``budget`` without :meth:`tune`.
        """
        explicit = {"nprobe": nprobe, "scan_dim": scan_dim, "rerank_k": rerank_k,
                    "rerank_dim": rerank_dim, "probe_dim": probe_dim}
        given = {name: v for name, v in explicit.items() if v is not None}
        if target_recall is not None or budget is not None:
            if given:
                raise ValueError(f"target_recall / budget choose the settings; do not also pass {sorted(given)}")
            given = self.operating_point(target_recall=target_recall, budget=budget).settings()
        settings = self._full_settings(given)
        filt = as_filter(filter)
        if filt is not None:
            nlist = int(self._core.nlist)  # type: ignore[attr-defined]
            settings["nprobe"] = filt.widened(settings["nprobe"], as_int(k, "k", 1), int(self.ntotal), nlist)  # type: ignore[attr-defined]
        return self._search_with(xq, k, settings, stats, filt)

    def tune(
        self,
        xq_sample: Any,
        k: int = 10,
        *,
        space: Optional[Dict[str, Any]] = None,
        seed: int = 0,
        measure_qps: bool = True,
        gt: Optional[Any] = None,
        progress: Optional[bool] = None,
    ) -> OperatingPoints:
        """Measures recall@k and cost of settings on a query sample and keeps the Pareto front.

        Exact ground truth for the sample is computed by the library (a PQ index needs its
        full vectors for that, or pass ``gt``: the sample's exact top-k ids). The front is stored
        in :attr:`operating_points` (and saved with the index); ``search(target_recall=...)`` and
        ``search(budget=...)`` then pick from it. ``space`` overrides the candidate values of
        ``probe_dim``, ``nprobe``, ``scan_dim``, ``rerank_k``, ``rerank_dim`` (see
        :func:`adanns.tuning.default_space`). Deterministic for a given ``seed`` (QPS aside).
        ``progress``: a bar counting the settings evaluated (see :mod:`adanns._progress`).
        """
        if self.ntotal == 0:  # type: ignore[attr-defined]
            raise RuntimeError("tune needs an index that holds vectors")
        xq = as_matrix(xq_sample, self.dim, "xq_sample")  # type: ignore[attr-defined]
        k = as_int(k, "k", 1, self.ntotal)  # type: ignore[attr-defined]
        gt_arr = None if gt is None else np.asarray(gt)
        self._operating_points = tune(self, xq, k, space=space, seed=as_int(seed, "seed", 0),
                                      measure_qps=measure_qps, gt=gt_arr, progress=progress)
        return self._operating_points

    @property
    def operating_points(self) -> Optional[OperatingPoints]:
        """The tuned Pareto front (settings, recall, modelled cost, measured QPS), or None."""
        return self._operating_points

    def operating_point(self, *, target_recall: Optional[float] = None, budget: Optional[float] = None) -> OperatingPoint:
        """The tuned point ``search`` would use for ``target_recall`` or ``budget``."""
        if self._operating_points is None:
            raise RuntimeError("no operating points: call tune(xq_sample) first")
        if (target_recall is None) == (budget is None):
            raise ValueError("give exactly one of target_recall and budget")
        if target_recall is not None:
            t = float(target_recall)
            if not 0.0 < t <= 1.0:
                raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
            return self._operating_points.for_recall(t)
        b = float(budget)  # type: ignore[arg-type]
        if not np.isfinite(b) or b <= 0:
            raise ValueError(f"budget must be a positive number of multiply-adds, got {budget}")
        return self._operating_points.for_budget(b)

    def _points_from_header(self, d: Any) -> Optional[OperatingPoints]:
        """Operating points read from a file header, each checked against this index's ranges."""
        if d is None:
            return None
        ops = OperatingPoints.from_dict(d)
        for p in ops.points:
            try:
                self._full_settings(p.settings())
            except (ValueError, TypeError):
                raise ValueError("operating point outside the index's ranges") from None
        return ops

    # Provided by each index class.
    def _full_settings(self, given: Dict[str, Any]) -> Dict[str, int]:
        raise NotImplementedError

    def _fixed_settings(self) -> Dict[str, int]:
        raise NotImplementedError

    def _search_with(self, xq: Any, k: int, s: Dict[str, int], stats: Optional[SearchStats] = None,
                     filt: Optional[IDFilter] = None) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _exact_ground_truth(self, xq: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError
