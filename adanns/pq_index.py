"""AdANNS-(O)PQ and AdANNS-IVF(O)PQ: memory-lean indices on compressed prefixes.

Each vector is stored as ``m`` bytes: a product quantiser (optionally preceded by a learned
OPQ rotation) trained on the first ``pq_dim`` dims, on the residual w.r.t. its list's
anchor. The probed lists are scanned with per-query lookup tables (ADC, C++ / AVX2), and
the best ``rerank_k`` candidates can be re-scored exactly on all ``dim`` dims from full
vectors kept in RAM or memory-mapped from the index file. See docs/pq.md.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core
from ._validation import as_ids, as_int, as_matrix, metric_code
from .index import _CoreProperties

PathLike = Union[str, "os.PathLike[str]"]
KEEP_FULL = (None, "ram", "mmap")

__all__ = ["PQIndex", "IVFPQIndex"]


def _check_keep_full(keep_full: Any) -> Optional[str]:
    if keep_full is not None and not isinstance(keep_full, str):
        raise TypeError(f"keep_full must be None, 'ram' or 'mmap', got {type(keep_full).__name__}")
    if keep_full not in KEEP_FULL:
        raise ValueError(f"keep_full must be None, 'ram' or 'mmap', got {keep_full!r}")
    return keep_full


def _random_rotation(p: int, seed: int) -> np.ndarray:
    """A seeded random orthogonal p x p matrix (QR of a Gaussian matrix, signs fixed)."""
    g = np.random.default_rng(seed).standard_normal((p, p))
    q, r = np.linalg.qr(g)
    q *= np.sign(np.diag(r))[None, :] + (np.diag(r) == 0)
    return q


class _PQBase(_CoreProperties):
    """Shared machinery of PQIndex and IVFPQIndex (one C++ PQCore)."""

    _kind = ""

    def __init__(
        self,
        dim: int,
        nlist: int,
        coarse_dim: Optional[int],
        pq_dim: Optional[int],
        m: int,
        opq: bool,
        metric: str,
        keep_full: Optional[str],
        *,
        niter: int,
        pq_niter: int,
        opq_niter: int,
        seed: int,
        kmeanspp: bool,
        max_points_per_centroid: int,
        max_train: int,
    ) -> None:
        dim = as_int(dim, "dim", 1, 1 << 20)
        nlist = as_int(nlist, "nlist", 1, 2**31)
        coarse_dim = dim if coarse_dim is None else as_int(coarse_dim, "coarse_dim", 1, dim)
        pq_dim = dim if pq_dim is None else as_int(pq_dim, "pq_dim", 1, dim)
        m = as_int(m, "m", 1, pq_dim)
        if pq_dim % m:
            raise ValueError(f"pq_dim={pq_dim} must be a multiple of m={m} (each sub-quantiser gets pq_dim/m dims)")
        if not isinstance(opq, (bool, np.bool_)):
            raise TypeError(f"opq must be a bool, got {type(opq).__name__}")
        code = metric_code(metric)
        self._dim = dim
        self.keep_full = _check_keep_full(keep_full)
        self.opq = bool(opq)
        self.niter = as_int(niter, "niter", 0)
        self.pq_niter = as_int(pq_niter, "pq_niter", 1)
        self.opq_niter = as_int(opq_niter, "opq_niter", 1)
        self.seed = as_int(seed, "seed", 0, 2**63 - 1)
        self.kmeanspp = bool(kmeanspp)
        self.max_points_per_centroid = as_int(max_points_per_centroid, "max_points_per_centroid", 0)
        self.max_train = as_int(max_train, "max_train", 256)
        self._core = _core.PQCore(dim, nlist, coarse_dim, pq_dim, m, code, self.keep_full is not None)
        self._lock = threading.Lock()
        # The full vectors (keep_full) live in the core's rerank store, RAM or memory-mapped.
        self._nrows = 0                               # next seq number (= rows of the rerank store)
        self._next_id = 0

    # ----------------------------------------------------------------- properties
    @property
    def pq_dim(self) -> int:
        return self._core.pq_dim

    @property
    def m(self) -> int:
        """Bytes per code (number of 8-bit sub-quantisers)."""
        return self._core.m

    @property
    def full_is_mmapped(self) -> bool:
        """True when the full vectors are read from a memory-mapped file."""
        return bool(self._core.full_is_mapped)

    def memory_per_vector(self) -> Dict[str, int]:
        """Bytes per stored vector: ``codes`` (m), ``ids`` (8), ``row`` (4, the full-vector row),
        ``full`` (4 * dim when full vectors are kept, whether in RAM or memory-mapped) and ``ram``,
        the part held in RAM (``full`` is not counted for an index whose vectors are mapped)."""
        full = 4 * self._dim if self.keep_full is not None else 0
        base = self.m + 8 + 4
        ram = base + (full if (self.keep_full == "ram" or not self.full_is_mmapped) else 0)
        return {"codes": self.m, "ids": 8, "row": 4, "full": full, "ram": ram, "total": base + full}

    def rotation(self) -> Optional[np.ndarray]:
        """The OPQ rotation R (pq_dim, pq_dim), codes are PQ(R (t - anchor)); None without OPQ."""
        return self._core.rotation()

    def codebooks(self) -> np.ndarray:
        """(m, 256, pq_dim / m) float32 sub-quantiser centroids (in the rotated space with OPQ)."""
        return self._core.codebooks()

    def anchors(self) -> np.ndarray:
        """(nlist, pq_dim) float32 list anchors (residual reference, unrotated)."""
        return self._core.anchors()

    def list_sizes(self) -> np.ndarray:
        return self._core.list_sizes()

    # ----------------------------------------------------------------- helpers
    def _normalize(self, x: np.ndarray) -> np.ndarray:
        return _core.normalize_rows(x) if self._core.metric == 2 else x

    def train(self, x: Any) -> None:
        """Learns the coarse centroids (IVF), the list anchors, the OPQ rotation (``opq=True``)
        and the PQ codebooks from the rows of ``x`` (n, dim); n >= max(nlist, 256)."""
        if self.ntotal > 0:
            raise RuntimeError("cannot retrain an index that holds vectors; call reset() first")
        x = as_matrix(x, self._dim, "x")
        core = self._core
        nlist = core.nlist
        need = max(nlist, 256)
        if x.shape[0] < need:
            raise ValueError(
                f"training needs at least {need} vectors (256 per sub-quantiser codebook"
                + (f", nlist={nlist} centroids" if nlist > 256 else "") + f"), got {x.shape[0]}"
            )
        try:
            self._train(x)
        except BaseException:
            # Never leave a half-installed training behind: back to an untrained core.
            c = self._core
            self._core = _core.PQCore(self._dim, c.nlist, c.coarse_dim, c.pq_dim, c.m, c.metric, c.keep_full)
            raise

    def _train(self, x: np.ndarray) -> None:
        core = self._core
        nlist, cd, p, m = core.nlist, core.coarse_dim, core.pq_dim, core.m
        z = self._normalize(x)
        rng = np.random.default_rng(self.seed)
        centroids = None
        if nlist > 1:
            pre = np.ascontiguousarray(z[:, :cd])
            if core.metric == 2 and cd < self._dim:
                pre = _core.normalize_rows(pre)
            centroids = _core.kmeans(pre, nlist, self.niter, self.seed, core.metric != 0, self.kmeanspp,
                                     self.max_points_per_centroid)
            del pre
        # Install the coarse stage with placeholder PQ state to assign the training rows.
        dummy_cb = np.zeros((m, 256, p // m), np.float32)
        core.set_state(centroids, np.zeros((nlist, p), np.float32), None, dummy_cb)
        lists = core.assign(z)
        t = core.targets(z)
        # Anchors: the mean of each list's targets over all pq_dim dims (empty lists: the
        # coarse centroid on the dims it covers, zero beyond).
        counts = np.bincount(lists, minlength=nlist)
        order = np.argsort(lists, kind="stable")
        anchors = np.zeros((nlist, p), np.float64)
        if nlist > 1:
            c = min(cd, p)
            anchors[:, :c] = centroids[:, :c]
        nz = np.flatnonzero(counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nz]
        anchors[nz] = np.add.reduceat(t[order].astype(np.float64), starts, axis=0) / counts[nz, None]
        anchors = anchors.astype(np.float32)
        # Training sample for the rotation and the codebooks.
        n = x.shape[0]
        idx = np.sort(rng.choice(n, self.max_train, replace=False)) if n > self.max_train else np.arange(n)
        res = (t[idx] - anchors[lists[idx]]).astype(np.float32)
        del t, z
        rotation = None
        if self.opq:
            rotation = self._train_opq(res, m, rng)
            res = np.ascontiguousarray(res @ rotation.T.astype(np.float32))
        cb = _core.pq_train(res, m, self.pq_niter, self.seed, 256)
        core.set_state(centroids, anchors, None if rotation is None else rotation.astype(np.float32), cb)

    def _train_opq(self, res: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        """Alternating optimisation (Ge et al., OPQ-NP): PQ codebooks for the rotated residuals,
        then the orthogonal Procrustes rotation that best maps the residuals onto their
        reconstructions. Returns R (p x p, float64) with codes = PQ(R r)."""
        p = res.shape[1]
        R = _random_rotation(p, int(rng.integers(2**62)))
        x64 = res.astype(np.float64)
        inner_iter = 4
        for it in range(self.opq_niter):
            xr = np.ascontiguousarray((x64 @ R.T).astype(np.float32))
            cb = _core.pq_train(xr, m, inner_iter, self.seed + 7919 * (it + 1), 256)
            rec = _core.pq_decode(_core.pq_encode(xr, cb), cb).astype(np.float64)
            # min_R || x R^T - rec ||_F over orthogonal R:  x^T rec = U S V^T,  R^T = U V^T
            u, _, vt = np.linalg.svd(x64.T @ rec)
            R = (u @ vt).T
        return R

    # ----------------------------------------------------------------- add / reset
    def add(self, x: Any, ids: Optional[Any] = None) -> None:
        """Encodes and stores the rows of ``x`` (n, dim); ids default to 0, 1, 2, ... continuing
        after the largest id seen. Full vectors are kept (normalised for cosine) if keep_full."""
        if not self.is_trained:
            raise RuntimeError("the index must be trained before add(); call train(x) first")
        x = as_matrix(x, self._dim, "x")
        n = x.shape[0]
        id_arr = None if ids is None else as_ids(ids, n)
        if n == 0:
            return
        z = self._normalize(x)
        with self._lock:
            if self._nrows + n >= 2**32 - 1:
                raise ValueError("an index holds at most 2^32 - 2 vectors")
            if id_arr is None:
                id_arr = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
            seq = np.arange(self._nrows, self._nrows + n, dtype=np.int64)
            self._core.add(z, id_arr, seq)  # the core copies the full vectors into its store
            self._nrows += n
            self._next_id = max(self._next_id, int(id_arr.max()) + 1)

    def remove_ids(self, ids: Any) -> int:
        """Removes every stored vector whose id is in ``ids``; returns how many were removed.

        Ids not in the index are ignored. Removals are persisted by :meth:`save`.
        """
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        id_arr = as_ids(ids.reshape(-1), ids.size)
        with self._lock:
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
        n = x.shape[0]
        if n == 0:
            return 0
        z = self._normalize(x)
        with self._lock:
            if self._nrows + n >= 2**32 - 1:
                raise ValueError("an index holds at most 2^32 - 2 vectors")
            seq = np.arange(self._nrows, self._nrows + n, dtype=np.int64)
            replaced = int(self._core.update(z, id_arr, seq))
            self._nrows += n
            self._next_id = max(self._next_id, int(id_arr.max()) + 1)
            return replaced

    def reset(self) -> None:
        """Removes every stored vector (the training is kept)."""
        with self._lock:
            self._core.reset()
            self._nrows = 0

    # ----------------------------------------------------------------- search
    def _search(self, xq: Any, k: int, nprobe: int, rerank_k: int) -> Tuple[np.ndarray, np.ndarray]:
        if not self.is_trained:
            raise RuntimeError("the index must be trained before search()")
        xq = as_matrix(xq, self._dim, "queries")
        ntotal = self.ntotal
        k = as_int(k, "k", 1)
        if k > ntotal:
            raise ValueError(f"k={k} is larger than the number of vectors in the index ({ntotal})")
        nprobe = as_int(nprobe, "nprobe", 1, self._core.nlist)
        rerank_k = as_int(rerank_k, "rerank_k", 0)
        if rerank_k > 0 and self.keep_full is None:
            raise ValueError("rerank_k > 0 needs the full vectors; this index was built with keep_full=None")
        rerank_k = min(rerank_k, ntotal)
        if xq.shape[0] == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        from .index import _check_memory

        _check_memory(12 * xq.shape[0] * max(k, rerank_k), "the search result and candidate arrays")
        q = self._normalize(xq)
        return self._core.search(q, k, nprobe, rerank_k)

    # ----------------------------------------------------------------- persistence
    def save(self, path: PathLike) -> None:
        """Writes the index (codes, training, and the full vectors if kept) to one file, atomically."""
        from .io_pq import save_pq

        save_pq(self, path)

    def _header(self) -> Dict[str, Any]:
        core = self._core
        return {
            "type": self._kind,
            "dim": self._dim,
            "nlist": core.nlist,
            "coarse_dim": core.coarse_dim,
            "pq_dim": core.pq_dim,
            "m": core.m,
            "opq": self.opq,
            "metric": self.metric,
            "keep_full": self.keep_full,
            "niter": self.niter,
            "pq_niter": self.pq_niter,
            "opq_niter": self.opq_niter,
            "seed": self.seed,
            "kmeanspp": self.kmeanspp,
            "max_points_per_centroid": self.max_points_per_centroid,
            "max_train": self.max_train,
            "next_id": self._next_id,
        }

    def _install(self, centroids, anchors, rotation, codebooks, sizes, ids, seq, codes, full, next_id,
                 full_map: Optional[Tuple[str, int]] = None) -> None:
        """Restores a saved state (used by adanns.io_pq); arrays already validated. The full vectors
        come as an array (kept in RAM) or as ``full_map = (path, byte offset)`` (memory-mapped)."""
        self._core.set_state(centroids, anchors, rotation, codebooks)
        lists = np.repeat(np.arange(self._core.nlist, dtype=np.int64), sizes)
        if ids.shape[0]:
            self._core.add_codes(codes, ids, seq, lists)
        if full_map is not None:
            self._core.map_full(full_map[0], int(full_map[1]), int(ids.shape[0]))
        elif full is not None:
            self._core.set_full(full)
        self._nrows = int(ids.shape[0])
        self._next_id = int(next_id)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dim={self.dim}, {self._describe()}pq_dim={self.pq_dim}, m={self.m}, "
                f"opq={self.opq}, metric={self.metric!r}, keep_full={self.keep_full!r}, ntotal={self.ntotal})")

    def _describe(self) -> str:
        return ""


class PQIndex(_PQBase):
    """AdANNS-(O)PQ: exhaustive ADC scan of m-byte codes of the first ``pq_dim`` dims,
    optional exact rerank on all dims.

    Args:
        dim: dimensionality of the vectors.
        pq_dim: prefix length that is quantised (default: ``dim``); a multiple of ``m``.
        m: bytes per vector (sub-quantisers of 256 centroids, ``pq_dim / m`` dims each).
        opq: learn and apply an OPQ rotation of the prefix before quantising.
        metric: ``"l2"``, ``"ip"`` or ``"cosine"`` (the library normalises).
        keep_full: ``"ram"`` (full vectors in memory, for rerank), ``"mmap"`` (mapped from the
            index file once saved and loaded; in RAM before) or ``None`` (no rerank).
        pq_niter: k-means iterations of each sub-quantiser; ``opq_niter``: OPQ alternations.
        seed: seed of every sampling and initialisation.
        max_train: training rows used for the rotation and codebooks (a seeded sample).
    """

    _kind = "pq"

    def __init__(
        self,
        dim: int,
        pq_dim: Optional[int] = None,
        m: int = 8,
        opq: bool = False,
        metric: str = "l2",
        keep_full: Optional[str] = "ram",
        *,
        pq_niter: int = 25,
        opq_niter: int = 10,
        seed: int = 1234,
        max_train: int = 65536,
    ) -> None:
        super().__init__(dim, 1, None, pq_dim, m, opq, metric, keep_full, niter=0, pq_niter=pq_niter,
                         opq_niter=opq_niter, seed=seed, kmeanspp=False, max_points_per_centroid=256,
                         max_train=max_train)

    def search(self, xq: Any, k: int = 10, *, rerank_k: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by ADC on the pq_dim prefix; with ``rerank_k`` > 0 the best ``max(k, rerank_k)``
        are re-scored exactly on all dims. Returns ``(D, I)`` like IVFIndex."""
        return self._search(xq, k, 1, rerank_k)


class IVFPQIndex(_PQBase):
    """AdANNS-IVF(O)PQ: coarse lists on the first ``coarse_dim`` dims, m-byte (O)PQ codes of the
    residual of the first ``pq_dim`` dims, ADC scan of the probed lists, optional exact rerank.

    Args: as :class:`PQIndex`, plus ``nlist`` (lists), ``coarse_dim`` (default ``dim``), and the
    coarse k-means options ``niter``, ``kmeanspp``, ``max_points_per_centroid``.
    """

    _kind = "ivfpq"

    def __init__(
        self,
        dim: int,
        nlist: int,
        coarse_dim: Optional[int] = None,
        pq_dim: Optional[int] = None,
        m: int = 8,
        opq: bool = False,
        metric: str = "l2",
        keep_full: Optional[str] = "ram",
        *,
        niter: int = 20,
        pq_niter: int = 25,
        opq_niter: int = 10,
        seed: int = 1234,
        kmeanspp: bool = False,
        max_points_per_centroid: int = 256,
        max_train: int = 65536,
    ) -> None:
        super().__init__(dim, nlist, coarse_dim, pq_dim, m, opq, metric, keep_full, niter=niter,
                         pq_niter=pq_niter, opq_niter=opq_niter, seed=seed, kmeanspp=kmeanspp,
                         max_points_per_centroid=max_points_per_centroid, max_train=max_train)

    @property
    def nlist(self) -> int:
        return self._core.nlist

    @property
    def coarse_dim(self) -> int:
        return self._core.coarse_dim

    def centroids(self) -> np.ndarray:
        return self._core.centroids()

    def search(self, xq: Any, k: int = 10, *, nprobe: int = 1, rerank_k: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k``: probe ``nprobe`` lists on coarse_dim dims, ADC scan on pq_dim dims, and with
        ``rerank_k`` > 0 an exact rerank of the best ``max(k, rerank_k)`` on all dims."""
        return self._search(xq, k, nprobe, rerank_k)

    def _describe(self) -> str:
        return f"nlist={self.nlist}, coarse_dim={self.coarse_dim}, "
