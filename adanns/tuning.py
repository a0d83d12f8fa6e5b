"""Compute-aware search: measure recall and speed of settings on a query sample, keep the
Pareto front, and pick a setting per search from a recall target or a compute budget.

Settings are ``(probe_dim, nprobe, scan_dim, rerank_k, rerank_dim)``: the coarse probe may use a
shorter prefix than the clustering (AdANNS-IVF-D), the scan any prefix, the rerank any depth.

Every index family tunes the same way: settings are the shared vocabulary of
:mod:`adanns.params` (an index fixes the keys its structure does not vary), and the cost is
the one model of :mod:`adanns.cost` (multiply-adds per query, probed list sizes measured on
the sample). The front and ``target_recall`` are by **measured** queries/second (batch
searches, the thread count of ``search``); the cost model breaks ties and serves ``budget=``.
:class:`Tunable` gives every index ``search(target_recall=/budget=)``, ``tune`` and
``operating_points``.

Exploration is successive halving over the Pareto front, not a blind grid: every candidate
is first evaluated on 64 queries of the sample, with ``nprobe`` swept upwards only until
recall stops improving or a cheaper setting is clearly ahead; only candidates within a
statistical margin of the front (by a time model fitted to every search run so far) are
re-evaluated on four times as many queries, and so on up to the whole sample. The finalists
are timed in interleaved rounds (median; clear losers drop out after each round).
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
from .params import SearchStats, given_settings, search_keywords


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
        """The fastest point (highest measured QPS; the cost model breaks ties, and decides
        alone when QPS was not measured) whose recall on the tuning sample reached ``target``."""
        ok = [p for p in self.points if p.recall >= target]
        if ok:
            return min(ok, key=lambda p: (-p.qps, p.cost, -p.recall))
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
    """lo, 1.5 lo, 2 lo, 3 lo, 4 lo, 6 lo, ... up to hi (and hi): steps of about 1.4x."""
    out, v = [], lo
    while v < hi:
        out += [v, v * 3 // 2]
        v *= 2
    out.append(hi)
    return sorted({x for x in out if lo <= x <= hi})


def default_space(index: Any, k: int) -> Dict[str, List[int]]:
    """The settings explored by default for ``index`` and ``k`` (keys the index fixes get their
    one value); an index without lists (a graph) gives its own (``_default_space``)."""
    own = getattr(index, "_default_space", None)
    if own is not None:
        return own(k)
    dim, cd, nlist, n = index.dim, index.coarse_dim, index.nlist, index.ntotal
    space = {
        "probe_dim": sorted({d for d in (cd, cd // 2) if d >= min(8, cd)}),
        "nprobe": _powers(1, max(1, min(nlist, 512))),
        "scan_dim": sorted({d for d in (dim, dim // 2, dim // 4, dim // 8) if d >= min(8, dim)}),
        "rerank_k": sorted({0} | {min(n, m * k) for m in (2, 5, 10, 20)}),
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


def _near_front(settings: List[Setting], cost: Dict[Setting, float], recall: Dict[Setting, float],
                margin: Dict[Setting, float], slack: float) -> List[Setting]:
    """The settings that no clearly cheaper setting (``slack`` times cheaper) beats by more than
    their ``margin`` of recall: the candidates worth a closer look."""
    pts = [(cost[s], recall[s]) for s in settings]
    front = [pts[i] for i in _pareto(pts)]
    return [s for s, (c, r) in zip(settings, pts) if r >= _front_recall_at(front, c / slack) - margin[s]]


def _clearly_slower(settings: List[Setting], typical: Dict[Setting, float], best: Dict[Setting, float],
                    recall: Dict[Setting, float], margin: Dict[Setting, float], slack: float) -> List[Setting]:
    """The settings to keep from noisy timings: a setting drops out only when a setting whose
    typical time is ``slack`` times below even its best time beats it by more than its margin
    of recall (load on a shared machine only ever slows a run down)."""
    pts = [(typical[s], recall[s]) for s in settings]
    front = [pts[i] for i in _pareto(pts)]
    return [s for s in settings if recall[s] >= _front_recall_at(front, best[s] / slack) - margin[s]]


def _margin(per_query: np.ndarray) -> float:
    """Two standard errors of a mean recall over these per-query recalls, plus 0.002."""
    m = per_query.shape[0]
    return 2.0 * float(per_query.std()) / np.sqrt(max(m - 1, 1)) + 0.002


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients (active set by elimination; a few columns)."""
    active = np.ones(a.shape[1], dtype=bool)
    coef = np.zeros(a.shape[1])
    while active.any():
        sol, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (sol >= 0).all():
            coef[active] = sol
            break
        idx = np.flatnonzero(active)
        active[idx[int(np.argmin(sol))]] = False
    return coef


Setting = Tuple[int, ...]  # values in the order of adanns.params.KEYS


def tune(
    index: Any,
    xq: np.ndarray,
    k: int = 10,
    *,
    space: Optional[Dict[str, Iterable[int]]] = None,
    seed: int = 0,
    first_round: int = 64,
    measure_qps: bool = True,
    gt: Optional[np.ndarray] = None,
    progress: Optional[bool] = None,
    repeats: int = 5,
) -> OperatingPoints:
    """Explores settings of ``index`` on the sample ``xq``; ``gt``: its exact top-k ids (default:
    computed by the index, ``index._exact_ground_truth``). With ``measure_qps`` the front is by
    measured queries/second (``repeats`` interleaved timings of each finalist, median), else by
    the cost model."""
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
    perm = np.random.default_rng(seed).permutation(nq)
    show = _progress.wanted(progress, int(index.ntotal) * nq // 250)  # from ~50k vectors x 1,000 queries
    tuner = _Tuner(index, xq, gt, k, sp, model, perm, show, seed)
    return tuner.run(max(1, int(first_round)), measure_qps, max(1, int(repeats)))


class _Tuner:
    """The state of one ``tune`` run: recall per setting (on the largest sample so far) and the
    wall time of every search it ran (for the time model that steers the pruning)."""

    SWEEP = "nprobe"  # the key swept upwards per configuration (more work, more recall)
    # Queries per timed batch of the finalists: batches as large as searches in use are timed
    # (small batches spread over the threads differently and rank settings differently).
    TIMED_QUERIES = 1024
    TIMED_SECONDS = 0.05  # a timed search of a slow setting uses fewer queries (>= 256) to stay near this

    def __init__(self, index: Any, xq: np.ndarray, gt: np.ndarray, k: int, sp: Dict[str, List[int]],
                 model: CostModel, perm: np.ndarray, show: bool, seed: int) -> None:
        self.index, self.xq, self.gt, self.k, self.sp = index, xq, gt, k, sp
        self.model, self.perm, self.show = model, perm, show
        self.rng = np.random.default_rng(seed + 1)
        self.recall: Dict[Setting, float] = {}
        self.margin: Dict[Setting, float] = {}  # the statistical uncertainty of recall[s]
        self.cost: Dict[Setting, float] = {}
        self.obs: List[Tuple[Setting, int, float]] = []  # (setting, queries, seconds)
        fixed = index._fixed_settings()
        self.scan_is_raw = "scan_dim" not in fixed  # the scan reads the stored vectors themselves

    # ------------------------------------------------------------------ one search
    def _search(self, s: Setting, q: np.ndarray) -> Tuple[np.ndarray, float]:
        t = time.perf_counter()
        _, ids = self.index.search(q, self.k, **dict(zip(_KEYS, s)))
        return ids, time.perf_counter() - t

    def _evaluate(self, s: Setting, m: int, update: Any) -> float:
        sub = self.perm[:m]
        ids, dt = self._search(s, self.xq[sub])
        self.obs.append((s, m, dt))
        g = self.gt[sub, : self.k]
        r = recall_at_k(ids, g, self.k)
        per_query = (ids[:, : self.k, None] == g[:, None, :]).any(axis=2).mean(axis=1)
        self.recall[s], self.margin[s] = r, _margin(per_query)
        if s not in self.cost:
            self.cost[s] = self.model(dict(zip(_KEYS, s)))
        update(1)
        return r

    def _bar(self, total: Optional[int], what: str) -> Any:
        return _progress.bar(self.show, total, f"adanns tune: {what}", "search")

    # ------------------------------------------------------------------ the time model
    def _features(self, s: Setting, m: int) -> List[float]:
        fixed, scan, probed, rerank = self.model.terms(dict(zip(_KEYS, s)))
        return [1.0 / m, 1.0, fixed, scan, probed, rerank]

    def _time_model(self, m: int) -> Dict[Setting, float]:
        """Predicted seconds per query of every evaluated setting in a batch of ``m`` queries:
        a non-negative linear fit of all timings so far to the cost model's parts (relative
        errors, so fast and slow settings count alike). One noisy timing moves it little."""
        a = np.array([self._features(s, mm) for s, mm, _ in self.obs], dtype=np.float64)
        y = np.array([dt / mm for _, mm, dt in self.obs], dtype=np.float64)
        y = np.maximum(y, 1e-12)
        scale = a.max(axis=0)
        scale[scale == 0] = 1.0
        coef = _nnls(a / scale / y[:, None], np.ones_like(y)) / scale
        if not np.isfinite(coef).all() or not coef.any():
            return {s: c for s, c in self.cost.items()}
        return {s: max(float(np.dot(coef, self._features(s, m))), 1e-12) for s in self.recall}

    # ------------------------------------------------------------------ the stages
    def _configurations(self) -> List[Setting]:
        """Every combination of the non-swept keys (as settings with the swept key at 0),
        accurate ones first (they set the bar early stops compare with)."""
        keys = [key for key in _KEYS if key != self.SWEEP]
        combos: List[Dict[str, int]] = [{}]
        for key in keys:
            combos = [dict(c, **{key: v}) for c in combos for v in self.sp[key]]
        out = []
        for c in combos:
            rk, sd, rd = c.get("rerank_k", 0), c.get("scan_dim"), c.get("rerank_dim")
            if rk > 0 and self.scan_is_raw and sd is not None and rd is not None and sd >= rd:
                continue  # re-scoring on no more dims than the exact scan used changes nothing
            if rk == 0 and rd is not None and rd != self.sp["rerank_dim"][-1]:
                continue  # rerank_dim is irrelevant without rerank
            out.append(tuple(c.get(key, 0) for key in _KEYS))
        desc = {_KEYS.index("scan_dim"), _KEYS.index("probe_dim")}
        return sorted(out, key=lambda t: tuple(-v if i in desc else v for i, v in enumerate(t)))

    def _explore(self, m: int) -> None:
        """Round 1 on ``m`` queries: per configuration, the swept key goes up until recall stops
        improving (two steps without +0.001), reaches 1, or an already evaluated setting of no
        more modelled cost beats it by more than its margin (the configuration is behind)."""
        configs = self._configurations()
        pos = _KEYS.index(self.SWEEP)
        with self._bar(len(configs), f"explore on {m} queries") as update:
            for config in configs:
                prev, flat = -1.0, 0
                for v in self.sp[self.SWEEP]:
                    s = config[:pos] + (v,) + config[pos + 1 :]
                    r = self._evaluate(s, m, lambda n: None)
                    c, bar_r = self.cost[s], r + self.margin[s]
                    flat = flat + 1 if r <= prev + 1e-3 else 0
                    prev = max(prev, r)
                    behind = any(self.cost[q] <= c and rq > bar_r for q, rq in self.recall.items())
                    if r >= 1.0 or flat >= 2 or behind:
                        break
                update(1)

    def run(self, first_round: int, measure_qps: bool, repeats: int) -> OperatingPoints:
        nq = self.xq.shape[0]
        m = min(nq, first_round)
        self._explore(m)
        survivors = list(self.recall)
        # Successive halving: keep the settings near the front, double the queries, repeat.
        while True:
            speed = self._time_model(m) if measure_qps else self.cost
            slack = 1.15 if measure_qps else 1.0
            survivors = _near_front(survivors, speed, self.recall, self.margin, slack)
            if m >= nq:
                break
            m = min(nq, 4 * m)
            with self._bar(len(survivors), f"refine {len(survivors)} settings on {m} queries") as update:
                for s in survivors:
                    self._evaluate(s, m, update)
        if not measure_qps:
            final = [survivors[i] for i in _pareto([(self.cost[s], self.recall[s]) for s in survivors])]
            points = [self._point(s, 0.0) for s in final]
            points.sort(key=lambda o: o.cost)
            return OperatingPoints(self.k, points)
        qps = self._measure(survivors, repeats)
        survivors = list(qps)
        # the stored front: no point beaten by another on both recall and measured QPS
        final = [survivors[i] for i in _pareto([(-qps[s], self.recall[s]) for s in survivors])]
        points = [self._point(s, qps[s]) for s in final]
        points.sort(key=lambda o: (o.recall, -o.qps))
        return OperatingPoints(self.k, points)

    def _measure(self, settings: List[Setting], repeats: int) -> Dict[Setting, float]:
        """Queries/second of the finalists: batch searches of the same queries (the thread count
        of ``search``), the settings interleaved in a fresh random order per round so that load
        changes hit all alike; the median of the rounds. After each round the settings that a
        faster one beats on recall by a clear factor (typically twice as fast as their best run)
        drop out after the third round; the close calls get every repeat."""
        nq = self.xq.shape[0]
        big = min(nq, self.TIMED_QUERIES)
        # Batches as large as in use for the fast settings (near a typical target, where the
        # batch shape changes the ranking); slow ones, with plenty of work per query, on 256
        # queries, so that each timed search takes about TIMED_SECONDS at most.
        per_query = self._time_model(big)
        size = {s: int(min(big, max(min(big, 256), self.TIMED_SECONDS / per_query.get(s, 1e-3)))) for s in settings}
        times: Dict[Setting, List[float]] = {s: [] for s in settings}  # seconds per query
        alive = list(settings)
        with self._bar(None, f"time {len(settings)} settings") as update:
            for rnd in range(repeats):
                for i in self.rng.permutation(len(alive)):
                    s = alive[int(i)]
                    times[s].append(self._search(s, self.xq[self.perm[: size[s]]])[1] / size[s])
                    update(1)
                if 2 <= rnd + 1 < repeats:  # from three timings each on
                    med = {s: float(np.median(times[s])) for s in alive}
                    low = {s: min(times[s]) for s in alive}
                    alive = _clearly_slower(alive, med, low, self.recall, self.margin, 2.0)
        return {s: 1.0 / max(float(np.median(times[s])), 1e-12) for s in alive}

    def _point(self, s: Setting, qps: float) -> OperatingPoint:
        return OperatingPoint(**dict(zip(_KEYS, s)), recall=self.recall[s], cost=self.cost[s], qps=qps)


class Tunable:
    """Compute-aware search for every index family: ``search`` with the shared keywords or a
    ``target_recall`` / ``budget``, ``tune``, ``operating_points``.

    An index provides ``_full_settings`` (defaults filled in and validated), ``_fixed_settings``,
    ``_cost_terms``, ``_probe``, ``_exact_ground_truth`` and ``_search_with``."""

    _operating_points: Optional[OperatingPoints] = None

    @search_keywords
    def search(
        self,
        xq: Any,
        k: int = 10,
        *,
        target_recall: Optional[float] = None,
        budget: Optional[float] = None,
        stats: Optional[SearchStats] = None,
        filter: Any = None,
        **settings: Optional[int],
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
            target_recall: instead of explicit settings, use the tuned operating point with
                the highest measured QPS among those whose recall on the tuning sample reached
                this value (needs :meth:`tune`).
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
        given = given_settings(settings)
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
        """Measures recall@k and speed of settings on a query sample and keeps the Pareto front
        (no point beaten by another on both recall and measured QPS; with
        ``measure_qps=False``, on the cost model instead).

        Exact ground truth for the sample is computed by the library (a PQ index needs its
        full vectors for that, or pass ``gt``: the sample's exact top-k ids). The front is stored
        in :attr:`operating_points` (and saved with the index); ``search(target_recall=...)`` and
        ``search(budget=...)`` then pick from it. ``space`` overrides the candidate values of
        ``probe_dim``, ``nprobe``, ``scan_dim``, ``rerank_k``, ``rerank_dim`` (see
        :func:`adanns.tuning.default_space`). Deterministic for a given ``seed`` (QPS aside).
        ``progress``: one bar per stage (explore, refine, time; see :mod:`adanns._progress`;
        by default shown from 50k vectors x 1,000 queries). Ctrl-C stops it (``KeyboardInterrupt``
        propagates) and leaves the index's operating points as they were.
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
