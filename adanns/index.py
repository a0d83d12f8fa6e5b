"""Public index classes. Thin: validate, convert, call the C++ core."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _core
from ._validation import METRIC_NAMES, as_ids, as_int, as_matrix, metric_code
from .tuning import OperatingPoint, OperatingPoints, tune

PathLike = Union[str, "os.PathLike[str]"]


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 62


def _check_memory(nbytes: int, what: str) -> None:
    """Refuses up front an allocation that cannot fit (instead of being killed by the OS)."""
    if nbytes > _physical_memory() // 2:
        raise MemoryError(
            f"{what} would need {nbytes / 2**30:.1f} GiB, more than half of this machine's memory; "
            f"search fewer queries at a time or with a smaller k"
        )


def search_settings(
    xq: Any,
    k: int,
    nprobe: int,
    scan_dim: Optional[int],
    rerank_k: int,
    rerank_dim: Optional[int],
    probe_dim: Optional[int],
    *,
    dim: int,
    ntotal: int,
    nlist: int,
    coarse_dim: int,
) -> Tuple[np.ndarray, Tuple[int, int, int, int, int, int]]:
    """Validates the arguments of a search (CPU or GPU index) against the index's shape.

    Returns the queries as float32 (nq, dim) and ``(k, nprobe, scan_dim, rerank_k, rerank_dim,
    probe_dim)`` with the defaults filled in (``rerank_k`` capped at ``ntotal``). Checks that the
    (D, I) result arrays can be allocated.
    """
    xq = as_matrix(xq, dim, "queries")
    k = as_int(k, "k", 1)
    if k > ntotal:
        raise ValueError(f"k={k} is larger than the number of vectors in the index ({ntotal})")
    nprobe = as_int(nprobe, "nprobe", 1, nlist)
    scan_dim = dim if scan_dim is None else as_int(scan_dim, "scan_dim", 1, dim)
    rerank_k = min(as_int(rerank_k, "rerank_k", 0), ntotal)
    rerank_dim = dim if rerank_dim is None else as_int(rerank_dim, "rerank_dim", 1, dim)
    probe_dim = coarse_dim if probe_dim is None else as_int(probe_dim, "probe_dim", 1, coarse_dim)
    _check_memory(12 * xq.shape[0] * k, "the (D, I) result arrays")
    return xq, (k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim)


class _CoreProperties:
    """Properties every index shares, read from its C++ core (``self._core``, ``self._dim``)."""

    _dim: int
    _core: Any

    @property
    def dim(self) -> int:
        """Full dimensionality of the stored vectors."""
        return self._dim

    @property
    def metric(self) -> str:
        """'l2' (squared Euclidean), 'ip' (inner product) or 'cosine'."""
        return METRIC_NAMES[self._core.metric]

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return self._core.ntotal

    @property
    def is_trained(self) -> bool:
        return self._core.is_trained

    def __len__(self) -> int:
        return self.ntotal


class _Index(_CoreProperties):
    """Shared machinery of the AdANNS indices: one C++ core, three search stages."""

    _kind = ""

    def __init__(self, dim: int, nlist: int, coarse_dim: int, metric: str) -> None:
        self._dim = as_int(dim, "dim", 1)
        self._core = _core.IVFCore(self._dim, nlist, coarse_dim, metric_code(metric))

    # ----------------------------------------------------------------- add
    def add(self, x: Any, ids: Optional[Any] = None) -> None:
        """Adds the rows of ``x`` (n, dim). Ids default to 0, 1, 2, ... in order of addition.

        With ``cosine`` the library normalises the vectors; the stored copy is normalised.
        """
        if not self.is_trained:
            raise RuntimeError("the index must be trained before add(); call train(x) first")
        x = as_matrix(x, self._dim, "x")
        id_arr = None if ids is None else as_ids(ids, x.shape[0])
        if x.shape[0] == 0:
            return
        self._core.add(x, id_arr)

    def remove_ids(self, ids: Any) -> int:
        """Removes every stored vector whose id is in ``ids``; returns how many were removed.

        Ids not in the index are ignored. Removals are persisted by :meth:`save`.
        """
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        id_arr = as_ids(ids.reshape(-1), ids.size)
        return int(self._core.remove_ids(id_arr))

    def update(self, x: Any, ids: Any) -> int:
        """Replaces the vectors stored under ``ids`` by the rows of ``x`` (ids not yet present
        are simply added). One step for concurrent searches: they see all of the old vectors
        or all of the new ones. Returns the number of stored vectors that were replaced."""
        if not self.is_trained:
            raise RuntimeError("the index must be trained before update(); call train(x) first")
        x = as_matrix(x, self._dim, "x")
        id_arr = as_ids(ids, x.shape[0])
        if len(np.unique(id_arr)) != len(id_arr):
            raise ValueError("update() ids must be unique")
        if x.shape[0] == 0:
            return 0
        return int(self._core.update(x, id_arr))

    def reset(self) -> None:
        """Removes every stored vector (the training is kept)."""
        self._core.reset()

    # ----------------------------------------------------------------- search
    def _search(
        self,
        xq: Any,
        k: int,
        nprobe: int,
        scan_dim: Optional[int],
        rerank_k: int,
        rerank_dim: Optional[int],
        probe_dim: Optional[int] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        if not self.is_trained:
            raise RuntimeError("the index must be trained before search()")
        xq, settings = search_settings(
            xq, k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim,
            dim=self._dim, ntotal=self.ntotal, nlist=self._core.nlist, coarse_dim=self._core.coarse_dim,
        )
        if xq.shape[0] == 0:
            return np.empty((0, settings[0]), np.float32), np.empty((0, settings[0]), np.int64)
        return self._core.search(xq, *settings)

    # ----------------------------------------------------------------- persistence
    def save(self, path: PathLike) -> None:
        """Writes the index to one file, atomically (a failed save leaves any old file intact)."""
        from .io import save_index

        save_index(self, path)

    def _header(self) -> Dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()}, ntotal={self.ntotal})"

    def _describe(self) -> str:
        return f"dim={self.dim}, metric={self.metric!r}"


class IVFIndex(_Index):
    """AdANNS-IVF: an inverted-file index whose stages each use their own prefix.

    * clustering and probing use the first ``coarse_dim`` dims;
    * the probed lists are scanned on the first ``scan_dim`` dims (chosen per search);
    * the best ``rerank_k`` candidates are re-scored on ``rerank_dim`` dims (default: all).

    ``coarse_dim = scan_dim = dim`` without rerank is a classic (rigid) IVF-Flat index.

    Args:
        dim: dimensionality of the vectors.
        nlist: number of inverted lists (k-means clusters).
        coarse_dim: prefix length used for clustering and probing (default: ``dim``).
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (inner product) or ``"cosine"``.
        niter: k-means iterations.
        seed: seed of the k-means sampling and initialisation.
        kmeanspp: k-means++ initialisation instead of a random sample.
        max_points_per_centroid: cap on the training sample (per centroid), as in Faiss.

    Prefix semantics per metric: ``l2`` and ``ip`` are computed on the prefix as is;
    ``cosine`` is the cosine of the prefixes (``x[:d]`` and ``q[:d]`` each normalised).
    """

    _kind = "ivf"

    def __init__(
        self,
        dim: int,
        nlist: int,
        coarse_dim: Optional[int] = None,
        metric: str = "l2",
        *,
        niter: int = 20,
        seed: int = 1234,
        kmeanspp: bool = False,
        max_points_per_centroid: int = 256,
    ) -> None:
        dim = as_int(dim, "dim", 1)
        nlist = as_int(nlist, "nlist", 1, 2**31)
        coarse_dim = dim if coarse_dim is None else as_int(coarse_dim, "coarse_dim", 1, dim)
        super().__init__(dim, nlist, coarse_dim, metric)
        self.niter = as_int(niter, "niter", 0)
        self.seed = as_int(seed, "seed", 0, 2**64 - 1)
        self.kmeanspp = bool(kmeanspp)
        self.max_points_per_centroid = as_int(max_points_per_centroid, "max_points_per_centroid", 0)
        self._operating_points: Optional[OperatingPoints] = None

    @property
    def nlist(self) -> int:
        return self._core.nlist

    @property
    def coarse_dim(self) -> int:
        return self._core.coarse_dim

    def train(self, x: Any) -> None:
        """Learns the ``nlist`` centroids by k-means on ``x[:, :coarse_dim]`` (x is (n, dim))."""
        if self.ntotal > 0:
            raise RuntimeError("cannot retrain an index that holds vectors; call reset() first")
        x = as_matrix(x, self._dim, "x")
        if x.shape[0] < self.nlist:
            raise ValueError(f"training needs at least nlist={self.nlist} vectors, got {x.shape[0]}")
        self._core.train(x, self.niter, self.seed, self.kmeanspp, self.max_points_per_centroid)

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
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` search of the rows of ``xq`` (nq, dim).

        Args:
            k: neighbours per query (at most ``ntotal``).
            nprobe: lists probed per query (1..nlist; default 1).
            scan_dim: prefix length for the list scan (default: all dims).
            rerank_k: if > 0, keep ``max(k, rerank_k)`` scan candidates and re-score them
                exactly on ``rerank_dim`` dims; 0 (default) returns the scan's ranking.
            rerank_dim: prefix length of the rerank (default: all dims).
            probe_dim: prefix of the centroids used to choose the lists (1..coarse_dim,
                default coarse_dim): probing with fewer dims than the clustering used.
            target_recall: instead of explicit settings, use the cheapest tuned operating
                point whose recall on the tuning sample reached this value (needs :meth:`tune`).
            budget: instead of explicit settings, the most accurate tuned operating point
                whose modelled cost fits this many multiply-adds per query.

        Returns:
            ``(D, I)``, both (nq, k): distances (squared L2, ascending) or similarities
            (ip / cosine, descending), and ids; ``-1`` ids (and +/-inf distances) where
            fewer than k candidates were found.

        Raises:
            ValueError: bad shapes or values; ``target_recall``/``budget`` that no tuned
                point meets (the message names the closest one), or combined with explicit
                settings.
            RuntimeError: not trained, or ``target_recall``/``budget`` without :meth:`tune`.
        """
        if target_recall is not None or budget is not None:
            explicit = {"nprobe": nprobe, "scan_dim": scan_dim, "rerank_k": rerank_k,
                        "rerank_dim": rerank_dim, "probe_dim": probe_dim}
            given = [name for name, v in explicit.items() if v is not None]
            if given:
                raise ValueError(f"target_recall / budget choose the settings; do not also pass {given}")
            point = self.operating_point(target_recall=target_recall, budget=budget)
            return self._search(xq, k, **point.settings())
        return self._search(
            xq, k, 1 if nprobe is None else nprobe, scan_dim, 0 if rerank_k is None else rerank_k, rerank_dim, probe_dim
        )

    # ----------------------------------------------------------------- compute-aware search
    def tune(
        self,
        xq_sample: Any,
        k: int = 10,
        *,
        space: Optional[Dict[str, Any]] = None,
        seed: int = 0,
        measure_qps: bool = True,
    ) -> OperatingPoints:
        """Measures recall@k and cost of settings on a query sample and keeps the Pareto front.

        Exact ground truth for the sample is computed by the library. The front is stored in
        :attr:`operating_points` (and saved with the index); ``search(target_recall=...)`` and
        ``search(budget=...)`` then pick from it. ``space`` overrides the candidate values of
        ``probe_dim``, ``nprobe``, ``scan_dim``, ``rerank_k``, ``rerank_dim`` (see
        :func:`adanns.tuning.default_space`). Deterministic for a given ``seed`` (QPS aside).
        """
        if self.ntotal == 0:
            raise RuntimeError("tune needs an index that holds vectors")
        xq = as_matrix(xq_sample, self._dim, "xq_sample")
        k = as_int(k, "k", 1, self.ntotal)
        self._operating_points = tune(self, xq, k, space=space, seed=as_int(seed, "seed", 0), measure_qps=measure_qps)
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

    def centroids(self) -> np.ndarray:
        """The (nlist, coarse_dim) coarse centroids."""
        return self._core.centroids()

    def list_sizes(self) -> np.ndarray:
        """Number of vectors in each inverted list."""
        return self._core.list_sizes()

    def _header(self) -> Dict[str, Any]:
        return {
            "type": self._kind,
            "dim": self.dim,
            "nlist": self.nlist,
            "coarse_dim": self.coarse_dim,
            "metric": self.metric,
            "niter": self.niter,
            "seed": self.seed,
            "kmeanspp": self.kmeanspp,
            "max_points_per_centroid": self.max_points_per_centroid,
            "operating_points": None if self._operating_points is None else self._operating_points.to_dict(),
        }

    def _describe(self) -> str:
        return f"dim={self.dim}, nlist={self.nlist}, coarse_dim={self.coarse_dim}, metric={self.metric!r}"


class FlatIndex(_Index):
    """Exact search with the same prefix semantics as :class:`IVFIndex`.

    The pipeline with one list and no coarse stage: scan every vector on ``scan_dim``
    dims, optionally rerank ``rerank_k`` candidates on ``rerank_dim`` dims. With the
    defaults it is exact brute-force search, useful for ground truth and small data.
    """

    _kind = "flat"

    def __init__(self, dim: int, metric: str = "l2") -> None:
        dim = as_int(dim, "dim", 1)
        super().__init__(dim, 1, dim, metric)
        self._core.set_centroids(np.zeros((1, dim), np.float32))

    def search(
        self,
        xq: Any,
        k: int = 10,
        *,
        scan_dim: Optional[int] = None,
        rerank_k: int = 0,
        rerank_dim: Optional[int] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` on the ``scan_dim`` prefix (default all dims); see IVFIndex.search."""
        return self._search(xq, k, 1, scan_dim, rerank_k, rerank_dim)

    def _header(self) -> Dict[str, Any]:
        return {"type": self._kind, "dim": self.dim, "metric": self.metric}
