"""GraphIndex: a Vamana graph walked on a Matryoshka prefix, reranked on the full vector.

The AdANNS-DiskANN / LeanVec move for graphs: the graph is built, and walked, with cheap
distances on the first ``graph_dim`` dims (a compact copy of those dims is what the walk
reads); the best candidates of the walk are then re-scored exactly on ``rerank_dim`` dims of
the stored full rows. See docs/graph.md.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core, _progress
from .filters import IDFilter, as_filter
from ._validation import METRIC_NAMES, as_id_list, as_ids, as_int, as_matrix, default_ids, max_abs_value, metric_code
from ._format import Container, FormatError, MappedFile, all_finite, get_int, write_index_file
from ._limits import check_memory, field, param
from .index import MappedGuard, _setting, check_settings, core_property
from ._stored_transform import Transformed, make_transform, transform_from_file, transform_header, transform_sections
from .transforms import PCATransform
from .params import GRAPH_ALIASES
from .tuning import OperatingPoints, Tunable

PathLike = Union[str, "os.PathLike[str]"]

_NONE = 0xFFFFFFFF  # padding of an adjacency row
GRAPH_NAMES = {shared: own for own, shared in GRAPH_ALIASES.items()}
_STORES = {"float32": 0, "int8": 1}


class GraphIndex(Transformed, MappedGuard, Tunable):
    """Graph index (Vamana: DiskANN's robust prune with ``alpha`` > 1) on a vector prefix.

    * the graph is built on ``x[:, :graph_dim]`` (insertion in batches, multithreaded,
      deterministic for a ``seed``: the same data and calls give the same graph);
    * a search walks the graph with a beam of ``beam`` candidates on the first ``walk_dim``
      dims (default ``graph_dim``), then re-scores the best ``max(k, rerank_k)`` exactly on
      ``rerank_dim`` dims (default all) of the full vectors.

    Args:
        dim: dimensionality of the vectors.
        graph_dim: prefix the graph is built and walked on (default: ``dim``).
        degree: maximum out-degree of a node (R).
        metric: ``"l2"`` (squared Euclidean), ``"ip"`` (inner product) or ``"cosine"``.
        build_beam: beam of the searches that insert a vector (L of the build).
        alpha: robust-prune slack; > 1 keeps some longer edges (fewer hops).
        seed: seed of the insertion order.
        store: how the walk prefix is kept: ``"float32"`` (a copy of the first ``graph_dim``
            floats) or ``"int8"`` (codes of a per-dim affine quantiser fitted to the first rows
            added: 16-bit codes for the first 8 dims, which carry the most energy, 8-bit codes
            for the rest, so ``graph_dim + 8`` bytes per hop instead of ``4 * graph_dim``; the
            walk's distances are then approximate, the rerank stays exact). Rows of a multiple
            of 64 bytes (``graph_dim`` 56, 120, 184, 248...) read the fewest cache lines.
        transform: ``"pca"`` or an unfitted :class:`adanns.transforms.PCATransform` (as in
            :class:`adanns.IVFIndex`): a graph has no ``train``, so it is fitted on the rows of
            the first ``add`` (give that call a representative sample), then saved with the index
            and applied to every added vector and query.

    The graph geometry is squared L2 on the prefix for every metric (for ``cosine`` the stored
    vectors are normalised, so it matches the cosine order on the full vectors); the walk uses
    the metric's own distance on the prefix. Results are always the exact distances on
    ``rerank_dim`` dims: squared L2 ascending, or ip / cosine similarities descending
    (``cosine`` with ``rerank_dim < dim`` is the cosine of the prefixes, as in IVFIndex).

    Compute-aware search as every index (:class:`adanns.tuning.Tunable`): :meth:`tune` measures
    recall@k and cost of (beam, walk_dim, rerank_k) settings on a query sample and keeps the
    Pareto front; ``search(target_recall=...)`` / ``search(budget=...)`` pick from it. In the
    shared vocabulary (:mod:`adanns.params`) the beam is ``nprobe`` and the walk dim ``scan_dim``
    (both names are accepted); ``probe_dim`` is fixed (no coarse stage).
    """

    _kind = "graph"
    _operating_points: Optional[OperatingPoints] = None

    def __init__(
        self,
        dim: int,
        graph_dim: Optional[int] = None,
        degree: int = 32,
        metric: str = "l2",
        *,
        build_beam: int = 128,
        alpha: float = 1.2,
        seed: int = 1234,
        store: str = "float32",
        transform: Union[None, str, PCATransform] = None,
    ) -> None:
        dim = param(dim, "dim")
        graph_dim = dim if graph_dim is None else as_int(graph_dim, "graph_dim", 1, dim)
        degree = param(degree, "degree")
        build_beam = param(build_beam, "build_beam")
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.floating, np.integer)):
            raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
        alpha = float(alpha)
        if not 1.0 <= alpha <= 4.0:
            raise ValueError(f"alpha must be in [1, 4], got {alpha}")
        seed = as_int(seed, "seed", 0, 2**64 - 1)
        if not isinstance(store, str) or store not in _STORES:
            raise ValueError(f"store must be one of {sorted(_STORES)}, got {store!r}")
        self._dim = dim
        self._transform = make_transform(transform, dim, METRIC_NAMES[metric_code(metric)])
        self._core = _core.GraphCore(dim, graph_dim, degree, metric_code(metric), build_beam, alpha, seed,
                                     _STORES[store])

    # ----------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        """Full dimensionality of the stored vectors."""
        return self._dim

    graph_dim = core_property("graph_dim", int, "Prefix length the graph is built on (and walked on by default).")
    degree = core_property("degree", int, "Maximum out-degree of a node.")
    build_beam = core_property("build_beam", int, "Beam of the searches that insert a vector.")
    alpha = core_property("alpha", float, "Robust-prune slack of the build.")
    seed = core_property("seed", int, "Seed of the insertion order.")

    @property
    def store(self) -> str:
        """``"float32"`` or ``"int8"``: how the walk prefix is stored."""
        return "int8" if self._core.store == 1 else "float32"

    metric = core_property("metric", METRIC_NAMES.__getitem__, "'l2' (squared Euclidean), 'ip' (inner product) or 'cosine'.")
    ntotal = core_property("ntotal", int, "Number of stored vectors (removed ones excluded).")
    ndeleted = core_property("ndeleted", int, "Removed vectors still in the graph, until :meth:`consolidate` (or :meth:`save`).")

    is_mapped = core_property(
        "vectors_mapped", bool, "True while the full vectors (the rerank's rows) are served from the memory-mapped "
        "index file (``adanns.load(path, mmap=True)``); ``add`` and a ``consolidate`` that drops removed vectors "
        "copy them into memory first.")

    def _reads_mapped_file(self) -> bool:
        return self.is_mapped

    @property
    def is_trained(self) -> bool:
        """Always True: a graph index needs no training."""
        return True

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return (f"GraphIndex(dim={self.dim}, graph_dim={self.graph_dim}, degree={self.degree}, "
                f"metric={self.metric!r}, store={self.store!r}, ntotal={self.ntotal})")

    def bytes_per_vector(self) -> int:
        """Memory per stored vector: full row + walk prefix + adjacency + degree + id + flag."""
        gd = self.graph_dim
        prefix = gd + min(gd, self._core.sq_wide) if self.store == "int8" else 4 * gd
        return 4 * self.dim + prefix + 4 * self.degree + 4 + 8 + 1

    # ----------------------------------------------------------------- updates
    def add(self, x: Any, ids: Optional[Any] = None, *, progress: Optional[bool] = None) -> None:
        """Adds the rows of ``x`` (n, dim) and links them into the graph.

        Ids default to 0, 1, 2, ... continuing after the largest id so far. The first call
        builds the graph; later calls insert incrementally (same procedure). With ``cosine``
        the stored copy is normalised. ``progress``: a bar counting the rows linked in (see
        :mod:`adanns._progress`; default: shown for large adds when tqdm is installed), updated
        between the insertion batches; the graph built is the same with or without it.
        """
        x = as_matrix(x, self._dim, "x")
        id_arr = None if ids is None else as_ids(ids, x.shape[0])
        if x.shape[0] == 0:
            return
        if self._core.nstored + x.shape[0] >= 2**32 - 1:
            raise ValueError("a GraphIndex holds fewer than 2**32 - 1 vectors")
        if id_arr is None:
            default_ids(int(self._core.next_id), x.shape[0])  # refuses ids past 2**63 - 2
        self._check_mapped()
        t = self._transform
        x = self._fit_transform(x) if t is not None and not t.is_fitted else self._apply_transform(x)
        with _progress.bar(_progress.wanted(progress, x.shape[0]), x.shape[0], "adanns add", "vec") as update:
            done = [0]

            def report(rows: int) -> None:
                update(rows - done[0])
                done[0] = rows

            self._core.add(x, id_arr, report if _progress.wanted(progress, x.shape[0]) else None)

    def remove_ids(self, ids: Any) -> int:
        """Marks every stored vector whose id is in ``ids`` as removed; returns how many.

        Removed vectors stop appearing in results at once; they stay in the graph as
        waypoints until :meth:`consolidate` (called by :meth:`save`) repairs the edges around
        them and drops them. Ids not in the index are ignored.
        """
        id_arr = as_id_list(ids)
        self._check_mapped()
        return int(self._core.remove_ids(id_arr))

    def consolidate(self) -> None:
        """Drops the removed vectors: each node that pointed at one is re-linked (robust prune
        over its remaining neighbours and the removed node's neighbours)."""
        self._check_mapped()
        self._core.consolidate()

    # ----------------------------------------------------------------- search
    def search(  # type: ignore[override]
        self,
        xq: Any,
        k: int = 10,
        *,
        beam: Optional[int] = None,
        rerank_k: Optional[int] = None,
        rerank_dim: Optional[int] = None,
        walk_dim: Optional[int] = None,
        filter: Any = None,
        target_recall: Optional[float] = None,
        budget: Optional[float] = None,
        nprobe: Optional[int] = None,
        scan_dim: Optional[int] = None,
        probe_dim: Optional[int] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` search of the rows of ``xq`` (nq, dim); queries run in parallel.

        Args:
            k: neighbours per query (at most ``ntotal``).
            beam: candidates kept by the walk (the search list L; default 64, at least ``k`` is
                used). With ``beam >= ntotal`` the walk visits every vector. (``nprobe`` in the
                shared vocabulary.)
            rerank_k: candidates of the walk re-scored exactly (default and minimum ``k``).
                It may exceed ``beam``: the walk still expands only the best ``beam``, but
                keeps the best ``rerank_k`` of every vector it scored for the rerank.
            rerank_dim: dims of the exact re-scoring (default: all).
            walk_dim: prefix used by the walk, 1..graph_dim (default ``graph_dim``; ``scan_dim``
                in the shared vocabulary).
            filter: only ids it allows are returned (an id allow-list, a boolean mask over ids
                or an :class:`adanns.IDFilter`, see :mod:`adanns.filters`). The walk goes through
                rejected vectors but never returns them; ``beam`` is widened for the
                filter's selectivity unless the IDFilter has ``widen=False`` (:mod:`adanns.filters`). With
                ``beam >= ntotal`` the result is the exact filtered top-k.
            target_recall: instead of explicit settings, the cheapest tuned operating point whose
                recall on the tuning sample reached this value (needs :meth:`tune`).
            budget: instead of explicit settings, the most accurate tuned point whose modelled
                cost fits this many multiply-adds per query.

        Returns:
            ``(D, I)``, both (nq, k): exact distances on ``rerank_dim`` dims (squared L2
            ascending; ip / cosine similarities descending) and ids; ``-1`` ids (and +/-inf)
            where fewer than k vectors were found.
        """
        given: Dict[str, Any] = {}
        for own, shared, a, b in (("beam", "nprobe", beam, nprobe), ("walk_dim", "scan_dim", walk_dim, scan_dim)):
            if a is not None and b is not None:
                raise ValueError(f"give {own} or {shared} (the same setting), not both")
            if a is not None or b is not None:  # checked under the name the caller used
                given[shared] = as_int(a, own, 1) if a is not None else as_int(b, shared, 1)
        for key, v in (("rerank_k", rerank_k), ("rerank_dim", rerank_dim), ("probe_dim", probe_dim)):
            if v is not None:
                given[key] = v
        if target_recall is not None or budget is not None:
            if given:
                names = sorted({GRAPH_NAMES.get(key, key) for key in given})
                raise ValueError(f"target_recall / budget choose the settings; do not also pass {names}")
            given = self.operating_point(target_recall=target_recall, budget=budget).settings()
        return self._search_with(xq, k, self._full_settings(given), None, as_filter(filter))

    def tune(self, xq_sample: Any, k: int = 10, *, space: Optional[Dict[str, Any]] = None,  # type: ignore[override]
             **kwargs: Any) -> OperatingPoints:
        """Measures recall@k and cost of (beam, walk_dim, rerank_k) settings on a query sample and
        keeps the Pareto front (see :meth:`adanns.tuning.Tunable.tune`; ``space`` may use the
        graph's names ``beam`` and ``walk_dim``). The cost is modelled as ``beam * degree *
        walk_dim`` multiply-adds for the walk plus ``rerank_k * rerank_dim`` for the rerank; the
        measured QPS of every point is recorded too."""
        if space is not None:
            space = {GRAPH_ALIASES.get(key, key): v for key, v in space.items()}
        return super().tune(xq_sample, k, space=space, **kwargs)

    # ----------------------------------------------------------------- shared vocabulary
    def _full_settings(self, given: Dict[str, Any]) -> Dict[str, int]:
        check_settings(given)
        gd, dim = self.graph_dim, self._dim
        if given.get("probe_dim") is not None and given["probe_dim"] != gd:
            raise ValueError(f"GraphIndex has a fixed probe_dim={gd} (no coarse stage); got probe_dim={given['probe_dim']}")
        return {"nprobe": _setting(given, "nprobe", 64, 1), "probe_dim": gd,
                "scan_dim": _setting(given, "scan_dim", gd, 1, gd),
                "rerank_k": _setting(given, "rerank_k", 0, 0),
                "rerank_dim": _setting(given, "rerank_dim", dim, 1, dim)}

    def _fixed_settings(self) -> Dict[str, int]:
        return {"probe_dim": self.graph_dim}

    def _default_space(self, k: int) -> Dict[str, List[int]]:
        """Tuning candidates: beams from k up (the sweep stops where recall stops improving),
        the walk on graph_dim and half of it, rerank of k, 2k and 4k candidates."""
        n, gd = max(self.ntotal, k), self.graph_dim
        beams = sorted({min(n, b) for b in (k, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256, 384, 512) if b >= k})
        return {"probe_dim": [gd], "nprobe": beams,
                "scan_dim": sorted({d for d in (gd, gd // 2) if d >= min(8, gd)}),
                "rerank_k": sorted({0, min(n, 2 * k), min(n, 4 * k)}), "rerank_dim": [self._dim]}

    def _cost_terms(self, s: Dict[str, int]) -> Tuple[float, float]:
        """(multiply-adds per query, per scanned vector): the walk, about ``beam`` expansions of
        ``degree`` neighbours on ``walk_dim`` dims; no list scan."""
        return float(s["nprobe"] * self.degree * s["scan_dim"]), 0.0

    def _exact_ground_truth(self, xq: np.ndarray, k: int) -> np.ndarray:
        """Exact top-k on all dims over every live vector (a scan in the core)."""
        xq = self._apply_transform(as_matrix(xq, self._dim, "queries"))
        self._check_mapped()
        return self._core.search_exact(xq, k, self._dim)[1]

    def _search_with(self, xq: Any, k: int, s: Dict[str, int], stats: Any = None,
                     filt: Optional[IDFilter] = None) -> Tuple[np.ndarray, np.ndarray]:
        xq = self._apply_transform(as_matrix(xq, self._dim, "queries"))
        ntotal = self.ntotal
        k = as_int(k, "k", 1)
        if k > ntotal:
            raise ValueError(f"k={k} is larger than the number of vectors in the index ({ntotal})")
        beam, walk_dim, rerank_dim = s["nprobe"], s["scan_dim"], s["rerank_dim"]
        rerank_k = s["rerank_k"]
        nstored = self._core.nstored
        if filt is not None:
            beam = filt.widened(beam, k, ntotal, max(ntotal, k))
        beam = min(beam, max(nstored, k))  # a larger pool cannot hold more
        rerank_k = min(max(rerank_k, k), max(nstored, k))  # may exceed beam: the pool then keeps more
        if xq.shape[0] == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        check_memory(12 * xq.shape[0] * k, "the (D, I) result arrays", "search fewer queries at a time")
        self._check_mapped()
        return self._core.search(xq, k, beam, rerank_k, rerank_dim, walk_dim,
                                 **({} if filt is None else filt.core_args()))

    # ----------------------------------------------------------------- persistence
    def save(self, path: PathLike) -> None:
        """Writes the index to one file, atomically; consolidates removed vectors first."""
        self.consolidate()
        save_graph(self, path)

    @classmethod
    def _from_sections(cls, f: Container) -> "GraphIndex":
        """Rebuilds a GraphIndex from a verified file container (``adanns.load`` dispatches here)."""
        return load_graph(f)

    def _header(self) -> Dict[str, Any]:
        return {
            "type": self._kind,
            "dim": self.dim,
            "graph_dim": self.graph_dim,
            "degree": self.degree,
            "metric": self.metric,
            "build_beam": self.build_beam,
            "alpha": self.alpha,
            "seed": self.seed,
            "store": self.store,
            **({"sq_wide": int(self._core.sq_wide)} if self.store == "int8" else {}),
            "entry": int(self._core.entry),
            "next_id": int(self._core.next_id),
            **({} if self._operating_points is None else {"operating_points": self._operating_points.to_dict()}),
            **({} if self._transform is None else {"transform": transform_header(self._transform)}),
        }


# --------------------------------------------------------------------- codec
# The one place that knows how a GraphIndex lies in the file container (adanns/_format.py).

_GRAPH_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8"), "uint32": np.dtype("<u4")}


def save_graph(index: GraphIndex, path: PathLike) -> None:
    """Writes a (consolidated) GraphIndex: header + sections vectors, ids, neighbors."""
    header = index._header()
    vectors, ids, neighbors = index._core.export()
    header["ntotal"] = int(ids.shape[0])
    arrays = [("vectors", vectors), ("ids", ids), ("neighbors", neighbors)]
    sq = index._core.quantizer()
    if sq.size:  # the int8 store's quantiser (fitted once, kept so later adds encode alike)
        arrays.append(("quantizer", sq))
    arrays += transform_sections(index._transform)
    write_index_file(path, header, [(name, a.dtype, a.shape, [a]) for name, a in arrays])


def load_graph(f: Container) -> GraphIndex:
    """Builds a GraphIndex from a verified file container (its header and sections)."""
    header = f.header
    dim = field(header, "dim")
    graph_dim = get_int(header, "graph_dim", 1, dim)
    degree = field(header, "degree")
    build_beam = field(header, "build_beam")
    seed = get_int(header, "seed", 0, 2**64 - 1)
    ntotal = get_int(header, "ntotal", 0, 2**32 - 2)
    entry = get_int(header, "entry", 0, max(ntotal - 1, 0))
    next_id = get_int(header, "next_id", 0, 2**63 - 1)
    metric = header.get("metric")
    if metric not in ("l2", "ip", "cosine"):
        raise FormatError("header field 'metric' is invalid")
    store = header.get("store", "float32")
    if not isinstance(store, str) or store not in _STORES:
        raise FormatError("header field 'store' is invalid")
    alpha = header.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 1.0 <= alpha <= 4.0:
        raise FormatError("header field 'alpha' is missing or out of range")
    table = f.sections(_GRAPH_DTYPES)
    s = {name: arr for name, (arr, _) in table.items()}
    expected = {"vectors": ((ntotal, dim), np.float32), "ids": ((ntotal,), np.int64),
                "neighbors": ((ntotal, degree), np.uint32)}
    for name, (shape, dt) in expected.items():
        if name not in s:
            raise FormatError(f"section {name!r} is missing")
        if s[name].shape != shape or s[name].dtype != dt:
            raise FormatError(f"section {name!r} has shape {s[name].shape} / {s[name].dtype}, expected {shape} / {np.dtype(dt)}")
    vectors, ids, neighbors = s["vectors"], s["ids"], s["neighbors"]
    if vectors.size and not all_finite(vectors, max_abs_value(dim)):
        raise FormatError(f"stored vectors hold values that are not finite or not below {max_abs_value(dim):.3g}")
    if ntotal and (ids.min() < 0 or ids.max() >= next_id):
        raise FormatError("ids out of range (negative, or not below next_id)")
    valid = neighbors < ntotal
    pad = neighbors == _NONE
    # each row: valid neighbours, then padding only
    if not (valid | pad).all() or (pad[:, :-1] & valid[:, 1:]).any():
        raise FormatError("malformed adjacency (neighbour out of range or misplaced padding)")
    sq = s.get("quantizer")
    if sq is not None and (store != "int8" or sq.shape != (2, graph_dim) or sq.dtype != np.float32
                           or not np.isfinite(sq).all() or not (sq[1] > 0).all()):
        raise FormatError("section 'quantizer' is invalid")
    if store == "int8" and ntotal and sq is None:
        raise FormatError("section 'quantizer' is missing")
    wide = header.get("sq_wide", 0)
    if store == "int8" and wide not in (0, _core.GraphCore.sq_wide):
        raise FormatError("header field 'sq_wide' is invalid")
    if sq is not None and wide == 0:
        # written before the leading dims had 16-bit codes: the same [min, max] in 65535 steps
        sq = sq.copy()
        h = min(graph_dim, _core.GraphCore.sq_wide)
        steps = sq[1, :h] * np.float32(255.0 / 65535.0)
        sq[1, :h] = np.where(steps > 0, steps, np.float32(1.0))  # (a tiny span underflows: every code 0)
    index = GraphIndex(dim, graph_dim, degree, metric, build_beam=build_beam, alpha=float(alpha), seed=seed,
                       store=store)
    index._transform = transform_from_file(header.get("transform"), s, dim, metric)
    try:
        # load(mmap=True): the full rows stay in the file (the section is 64-byte aligned, row-major
        # n x dim float32: the layout of the core's store), mapped read-only.
        where = (os.fspath(f.path), table["vectors"][1]) if f.mmap and ntotal else ("", 0)
        index._core.set_graph(vectors, ids, neighbors, entry, next_id, sq, *where)
        if where[0]:
            index._mapped_file = MappedFile(where[0])
    except (ValueError, TypeError, RuntimeError) as e:
        raise FormatError(f"inconsistent graph index file: {e}") from None
    try:
        index._operating_points = index._points_from_header(header.get("operating_points"))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise FormatError("invalid operating points in the header") from None
    return index
