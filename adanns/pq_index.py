"""AdANNS-(O)PQ and AdANNS-IVF(O)PQ: memory-lean indices on compressed prefixes.

Each vector is stored as ``m`` bytes: a product quantiser (optionally preceded by a learned
OPQ rotation) trained on the first ``pq_dim`` dims, on the residual w.r.t. its list's
anchor. The probed lists are scanned with per-query lookup tables (ADC, C++ / AVX2), and
the best ``rerank_k`` candidates can be re-scored exactly on all ``dim`` dims from full
vectors kept in RAM or memory-mapped from the index file. See docs/pq.md.

File sections of a ``pq`` / ``ivfpq`` index (container: :mod:`adanns._format`):

=============  =======  ==========================  =========================================
name           dtype    shape                       content
=============  =======  ==========================  =========================================
centroids      float32  (nlist, coarse_dim)         ivfpq only: coarse centroids
anchors        float32  (nlist, pq_dim)             residual reference of each list
rotation       float32  (pq_dim, pq_dim)            only with opq: codes = PQ(R (t - anchor))
codebooks      float32  (m * 256, pq_dim / m)       sub-quantiser centroids
list_sizes     int64    (nlist,)
ids            int64    (ntotal,)                   in list order
rows           int64    (ntotal,)                   in list order: row of the full vector
codes          uint8    (ntotal, m)                 in list order
full           float32  (ntotal, dim)               only with keep_full: full vectors by row
=============  =======  ==========================  =========================================

With ``keep_full="mmap"`` the full vectors never sit in anonymous memory: ``add`` writes them to
an unlinked temporary file in ``mmap_dir`` (default: the system's temporary directory) served from
its mapping, and ``load`` maps the ``full`` section read-only from the index file (after its
checksum and values are verified); codes are small and copied into the core.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core, _progress
from ._format import Container, FormatError, MappedFile, Section, write_index_file
from ._limits import check_lists_memory, param
from ._validation import as_id_list, as_ids, as_int, as_matrix, default_ids, metric_code, update_input
from .index import (FlatIndex, MappedGuard, _check_memory, _CoreProperties, _search_bytes, _setting, check_settings,
                    check_unique_ids, core_property)
from ._stored_transform import Transformed, make_transform, transform_header, transform_sections
from .transforms import PCATransform
from ._opq import train_opq
from ._pq_codec import read_pq
from .filters import IDFilter
from .params import SearchStats
from .tuning import Tunable

PathLike = Union[str, "os.PathLike[str]"]
KEEP_FULL = (None, "ram", "mmap")

__all__ = ["PQIndex", "IVFPQIndex"]


def _check_keep_full(keep_full: Any) -> Optional[str]:
    if keep_full is not None and not isinstance(keep_full, str):
        raise TypeError(f"keep_full must be None, 'ram' or 'mmap', got {type(keep_full).__name__}")
    if keep_full not in KEEP_FULL:
        raise ValueError(f"keep_full must be None, 'ram' or 'mmap', got {keep_full!r}")
    return keep_full


class _PQBase(_CoreProperties, Transformed, MappedGuard, Tunable):
    """Shared machinery of PQIndex and IVFPQIndex (one C++ PQCore)."""

    _kind = ""

    def _reads_mapped_file(self) -> bool:
        return self.full_is_mmapped

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
        mmap_dir: Optional[PathLike] = None,
        transform: Union[None, str, PCATransform] = None,
    ) -> None:
        dim = param(dim, "dim")
        nlist = param(nlist, "nlist")
        coarse_dim = dim if coarse_dim is None else as_int(coarse_dim, "coarse_dim", 1, dim)
        pq_dim = dim if pq_dim is None else as_int(pq_dim, "pq_dim", 1, dim)
        m = as_int(m, "m", 1, pq_dim)
        if pq_dim % m:
            raise ValueError(f"pq_dim={pq_dim} must be a multiple of m={m} (each sub-quantiser gets pq_dim/m dims)")
        check_lists_memory(nlist, coarse_dim, pq_dim)
        if not isinstance(opq, (bool, np.bool_)):
            raise TypeError(f"opq must be a bool, got {type(opq).__name__}")
        code = metric_code(metric)
        self._dim = dim
        self.keep_full = _check_keep_full(keep_full)
        if mmap_dir is not None:
            if keep_full != "mmap":
                raise ValueError("mmap_dir is the directory of keep_full='mmap'; it needs keep_full='mmap'")
            if not os.path.isdir(os.fspath(mmap_dir)):
                raise ValueError(f"mmap_dir {os.fspath(mmap_dir)!r} is not a directory")
        self.mmap_dir = None if mmap_dir is None else os.path.abspath(os.fspath(mmap_dir))
        self.opq = bool(opq)
        self.niter = param(niter, "niter")
        self.pq_niter = param(pq_niter, "pq_niter")
        self.opq_niter = param(opq_niter, "opq_niter")
        self.seed = as_int(seed, "seed", 0, 2**63 - 1)
        self.kmeanspp = bool(kmeanspp)
        self.max_points_per_centroid = param(max_points_per_centroid, "max_points_per_centroid")
        self.max_train = param(max_train, "max_train")
        self._core = _core.PQCore(dim, nlist, coarse_dim, pq_dim, m, code, self.keep_full is not None)
        self._transform = make_transform(transform, dim, metric)
        self._lock = threading.Lock()
        # The full vectors (keep_full) live in the core's rerank store, RAM or memory-mapped.
        self._nrows = 0                               # next seq number (= rows of the rerank store)
        self._next_id = 0

    # ----------------------------------------------------------------- properties
    pq_dim = core_property("pq_dim", int, "Prefix length that is quantised (a multiple of m).")
    m = core_property("m", int, "Bytes per code (number of 8-bit sub-quantisers).")

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
        self._require_trained("rotation")
        return self._core.rotation()

    def codebooks(self) -> np.ndarray:
        """(m, 256, pq_dim / m) float32 sub-quantiser centroids (in the rotated space with OPQ)."""
        self._require_trained("codebooks")
        return self._core.codebooks()

    def anchors(self) -> np.ndarray:
        """(nlist, pq_dim) float32 list anchors (residual reference, unrotated)."""
        self._require_trained("anchors")
        return self._core.anchors()

    # ----------------------------------------------------------------- helpers
    def _normalize(self, x: np.ndarray) -> np.ndarray:
        return _core.normalize_rows(x) if self._core.metric == 2 else x

    def train(self, x: Any, *, progress: Optional[bool] = None) -> None:
        """Learns the coarse centroids (IVF), the list anchors, the OPQ rotation (``opq=True``)
        and the PQ codebooks from the rows of ``x`` (n, dim); n >= max(nlist, 256).
        ``progress``: a bar over the stages (see :meth:`add`)."""
        x = as_matrix(x, self._dim, "x")
        core = self._core
        nlist = core.nlist
        need = max(nlist, 256)
        if x.shape[0] < need:
            raise ValueError(
                f"training needs at least {need} vectors (256 per sub-quantiser codebook"
                + (f", nlist={nlist} centroids" if nlist > 256 else "") + f"), got {x.shape[0]}"
            )
        stages = 2 + (nlist > 1) + self.opq + (self._transform is not None)
        with self._lock:  # for the whole training: a racing add waits (and is not lost)
            if self.ntotal > 0:
                raise RuntimeError("cannot retrain an index that holds vectors; call reset() first")
            try:
                with _progress.bar(_progress.wanted(progress, x.shape[0]), stages, "adanns train", "stage") as update:
                    if self._transform is not None:
                        x = self._fit_transform(x)
                        update(1)
                    self._train(x, update)
            except BaseException:  # never leave a half-installed training: back to untrained
                c = self._core
                self._core = _core.PQCore(self._dim, c.nlist, c.coarse_dim, c.pq_dim, c.m, c.metric, c.keep_full)
                raise

    def _train(self, x: np.ndarray, update: Any) -> None:
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
            update(1)
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
        update(1)
        # Training sample for the rotation and the codebooks.
        n = x.shape[0]
        idx = np.sort(rng.choice(n, self.max_train, replace=False)) if n > self.max_train else np.arange(n)
        res = (t[idx] - anchors[lists[idx]]).astype(np.float32)
        del t, z
        rotation = None
        if self.opq:
            rotation = train_opq(res, m, rng, self.opq_niter, self.seed)
            res = np.ascontiguousarray(res @ rotation.T.astype(np.float32))
            update(1)
        cb = _core.pq_train(res, m, self.pq_niter, self.seed, 256)
        core.set_state(centroids, anchors, None if rotation is None else rotation.astype(np.float32), cb)
        update(1)

    # ----------------------------------------------------------------- add / reset
    def _spill(self) -> None:
        """keep_full="mmap": the core writes the full vectors it is given to a temporary file."""
        if self.keep_full == "mmap":
            self._core.spill_full(self.mmap_dir if self.mmap_dir is not None else tempfile.gettempdir())

    def add(self, x: Any, ids: Optional[Any] = None, *, progress: Optional[bool] = None) -> None:
        """Encodes and stores the rows of ``x`` (n, dim); ids default to 0, 1, 2, ... continuing
        after the largest id seen. Full vectors are kept (normalised for cosine) if keep_full.
        ``progress``: a progress bar (see :mod:`adanns._progress`; default: shown for large adds
        when tqdm is installed); with a bar the rows go in by blocks (the same index results), and
        if a block fails or the add is interrupted the blocks already added are removed again."""
        if not self.is_trained:
            raise RuntimeError("the index must be trained before add(); call train(x) first")
        x = as_matrix(x, self._dim, "x")
        n = x.shape[0]
        id_arr = None if ids is None else as_ids(ids, n)
        check_unique_ids(id_arr)
        if n == 0:
            return
        if self._nrows + n >= 2**32 - 1:
            raise ValueError("an index holds at most 2^32 - 2 vectors")
        if not _progress.wanted(progress, n):
            self._add_rows(x, id_arr)
            return
        if id_arr is None:
            id_arr = default_ids(self._next_id, n)
        ids_, next_before = id_arr, self._next_id

        def undo(done: int) -> None:  # the blocks added are removed; their default ids not used up
            with self._lock:
                self._core.remove_ids(ids_[:done])
                self._next_id = next_before
                self._nrows = self._nrows if self._core.ntotal else 0  # emptied: full store released

        _progress.add_in_blocks(n, lambda b, e: self._add_rows(x[b:e], ids_[b:e]), undo)

    def _add_rows(self, x: np.ndarray, id_arr: Optional[np.ndarray]) -> None:
        n = x.shape[0]
        z = self._normalize(self._apply_transform(x))
        with self._lock:
            if self._nrows + n >= 2**32 - 1:
                raise ValueError("an index holds at most 2^32 - 2 vectors")
            if id_arr is None:
                id_arr = default_ids(self._next_id, n)
            seq = self._take_rows(n, id_arr)
            self._check_mapped()
            self._spill()
            self._core.add(z, id_arr, seq)  # the core copies the full vectors into its store

    def _take_rows(self, n: int, id_arr: np.ndarray) -> np.ndarray:
        """Row numbers for ``n`` new entries, and the next default id, taken *before* the core call,
        so that an interrupt landing just after it (Ctrl-C) cannot make later adds reuse them; a
        failed call leaves a gap (harmless: rows are renumbered on save; ids stay unique). With
        full vectors the rows continue the core's store."""
        base = int(self._core.full_rows) if self.keep_full is not None else self._nrows
        self._nrows = base + n
        self._next_id = max(self._next_id, int(id_arr.max()) + 1)
        return np.arange(base, base + n, dtype=np.int64)

    def remove_ids(self, ids: Any) -> int:
        """Removes every stored vector whose id is in ``ids``; returns how many were removed.

        Ids not in the index are ignored. Removals are persisted by :meth:`save`.
        """
        id_arr = as_id_list(ids)
        with self._lock:
            self._check_mapped()
            removed = int(self._core.remove_ids(id_arr))
            self._nrows = self._nrows if self._core.ntotal else 0  # emptied: full store released
            return removed

    def update(self, x: Any, ids: Any) -> int:
        """Replaces the vectors stored under ``ids`` by the rows of ``x`` (ids not yet present
        are simply added). One step for concurrent searches: they see all of the old vectors
        or all of the new ones. Returns the number of stored vectors that were replaced."""
        x, id_arr = update_input(x, ids, self._dim, self.is_trained)
        n = x.shape[0]
        if n == 0:
            return 0
        z = self._normalize(self._apply_transform(x))
        with self._lock:
            if self._nrows + n >= 2**32 - 1:
                raise ValueError("an index holds at most 2^32 - 2 vectors")
            seq = self._take_rows(n, id_arr)
            self._check_mapped()
            self._spill()
            return int(self._core.update(z, id_arr, seq))

    def reset(self) -> None:
        """Removes every stored vector, releasing its memory (the training is kept); default ids
        start again at 0 as in a new index (as in every family with reset())."""
        with self._lock:
            self._core.reset()
            self._nrows = 0
            self._next_id = 0

    # ----------------------------------------------------------------- search
    def _search(self, xq: Any, k: int, nprobe: int, rerank_k: int,
                stats: Optional[SearchStats] = None, filt: Optional[IDFilter] = None) -> Tuple[np.ndarray, np.ndarray]:
        xq, k, ntotal = self._queries(xq, k)
        nprobe = as_int(nprobe, "nprobe", 1, self._core.nlist)
        rerank_k = as_int(rerank_k, "rerank_k", 0)
        if rerank_k > 0 and self.keep_full is None:
            raise ValueError("rerank_k > 0 needs the full vectors; this index was built with keep_full=None")
        rerank_k = min(rerank_k, ntotal)
        if xq.shape[0] == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        _check_memory(_search_bytes(xq.shape[0], k, nprobe, self._dim, rerank_k), "the search's arrays")
        q = self._normalize(self._apply_transform(xq))
        fargs = {} if filt is None else filt.core_args()
        self._check_mapped()
        if stats is None:
            return self._core.search(q, k, nprobe, rerank_k, **fargs)
        D, I, st = self._core.search(q, k, nprobe, rerank_k, True, **fargs)
        stats.add(q.shape[0], st)
        return D, I

    # ----------------------------------------------------------------- shared vocabulary
    def _fixed_settings(self) -> Dict[str, int]:
        fixed = {"probe_dim": self._core.coarse_dim, "scan_dim": self._core.pq_dim, "rerank_dim": self._dim}
        if self._core.nlist == 1:
            fixed["nprobe"] = 1
        if self.keep_full is None:
            fixed["rerank_k"] = 0
        return fixed

    def _full_settings(self, given: Dict[str, Any]) -> Dict[str, int]:
        check_settings(given)
        for key, value in self._fixed_settings().items():
            if key != "rerank_k" and given.get(key) is not None and given[key] != value:
                raise ValueError(f"{type(self).__name__} has a fixed {key}={value} (PQ codes cover the first "
                                 f"pq_dim dims, probing uses coarse_dim, the rerank all dims); got {key}={given[key]}")
        rerank_k = _setting(given, "rerank_k", 0, 0)
        if rerank_k > 0 and self.keep_full is None:
            raise ValueError("rerank_k > 0 needs the full vectors; this index was built with keep_full=None")
        return {"nprobe": _setting(given, "nprobe", 1, 1, self._core.nlist), "probe_dim": self._core.coarse_dim,
                "scan_dim": self._core.pq_dim, "rerank_k": rerank_k, "rerank_dim": self._dim}

    def _cost_terms(self, s: Dict[str, int]) -> Tuple[float, float]:
        """(multiply-adds per query, per scanned code): the probe and one lookup table
        (256 x pq_dim) per probed list, then ``m`` table lookups per code."""
        nlist, cd, p = self._core.nlist, self._core.coarse_dim, self._core.pq_dim
        return float((cd * nlist if nlist > 1 else 0) + s["nprobe"] * 256 * p), float(self._core.m)

    def _probe(self, xq: np.ndarray, nprobe: int, probe_dim: int) -> np.ndarray:
        """The lists a search probes (for the cost model): the flat core scan of the centroids."""
        cd = self._core.coarse_dim
        coarse = FlatIndex(cd, "l2" if self._core.metric == 0 else "ip")
        coarse.add(self._core.centroids())
        return coarse.search(np.ascontiguousarray(self._normalize(self._apply_transform(xq))[:, :cd]), nprobe)[1]

    def _exact_ground_truth(self, xq: np.ndarray, k: int) -> np.ndarray:
        """Exact top-k: every list, every code reranked on the full vectors (in query chunks)."""
        if self.keep_full is None:
            raise ValueError("exact ground truth needs the full vectors (keep_full); pass gt= to tune()")
        n, nlist = self.ntotal, self._core.nlist
        step = max(1, (1 << 26) // (12 * n))
        parts = [self._search(xq[b : b + step], k, nlist, n)[1] for b in range(0, xq.shape[0], step)]
        return np.concatenate(parts) if parts else np.empty((0, k), np.int64)

    def _search_with(self, xq: Any, k: int, s: Dict[str, int], stats: Optional[SearchStats] = None,
                     filt: Optional[IDFilter] = None) -> Tuple[np.ndarray, np.ndarray]:
        return self._search(xq, k, s["nprobe"], s["rerank_k"], stats, filt)

    # ----------------------------------------------------------------- persistence
    def save(self, path: PathLike) -> None:
        """Writes the index (codes, training, and the full vectors if kept) to one file, atomically."""
        self._check_mapped()
        header, sections = self._to_sections()
        write_index_file(path, header, sections)

    def _to_sections(self) -> Tuple[Dict[str, Any], List[Section]]:
        """The file header and sections (table in the module docstring)."""
        with self._lock:  # one snapshot of header (next_id), training, lists and full vectors
            header = dict(self._header())
            core = self._core
            sizes, ids, rows, codes, full = core.export_lists(True)
            trained = bool(core.is_trained)
            if trained:
                c, a, r = core.centroids() if core.nlist > 1 else None, core.anchors(), core.rotation()
                cb = core.codebooks().reshape(core.m * 256, core.pq_dim // core.m)
        ntotal = header["ntotal"] = int(ids.shape[0])
        # Each section: (name, dtype, shape, pieces written one after the other).
        arrays: List[Section] = []
        if not trained:  # no training to write: the lists only (empty), "trained": false
            header["trained"] = False
            for name, arr in (("list_sizes", sizes), ("ids", ids), ("rows", rows), ("codes", codes)):
                arrays.append((name, arr.dtype, arr.shape, [arr]))
            return header, arrays
        if c is not None:
            arrays.append(("centroids", c.dtype, c.shape, [c]))
        arrays.append(("anchors", a.dtype, a.shape, [a]))
        if r is not None:
            arrays.append(("rotation", r.dtype, r.shape, [r]))
        arrays.append(("codebooks", cb.dtype, cb.shape, [cb]))
        for name, arr in (("list_sizes", sizes), ("ids", ids), ("rows", rows), ("codes", codes)):
            arrays.append((name, arr.dtype, arr.shape, [arr]))
        if self.keep_full is not None:
            arrays.append(("full", np.dtype("<f4"), (ntotal, self.dim), [full]))
        arrays += [(name, a.dtype, a.shape, [a]) for name, a in transform_sections(self._transform)]
        return header, arrays

    @classmethod
    def _from_sections(cls, f: Container) -> "_PQBase":
        """Rebuilds a PQIndex / IVFPQIndex from a verified container. Nothing returned keeps a
        reference to the container's mapping: arrays are copied, and ``full`` is mapped again
        from the file when the index keeps its full vectors memory-mapped."""
        try:
            return read_pq(f, {"pq": PQIndex, "ivfpq": IVFPQIndex})
        except FormatError:
            raise
        except (ValueError, TypeError, OverflowError, RuntimeError, KeyError) as e:
            raise FormatError(f"inconsistent index file: {e}") from None

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
            **({} if self._operating_points is None else {"operating_points": self._operating_points.to_dict()}),
            **({} if self._transform is None else {"transform": transform_header(self._transform)}),
        }

    def _install(self, centroids, anchors, rotation, codebooks, sizes, ids, seq, codes, full, next_id,
                 full_map: Optional[Tuple[str, int]] = None) -> None:
        """Restores a saved state (used by the file codec); arrays already validated. The full vectors
        come as an array (kept in RAM) or as ``full_map = (path, byte offset)`` (memory-mapped)."""
        self._core.set_state(centroids, anchors, rotation, codebooks)
        lists = np.repeat(np.arange(self._core.nlist, dtype=np.int64), sizes)
        if ids.shape[0]:
            self._core.add_codes(codes, ids, seq, lists)
        if full_map is not None:
            self._core.map_full(full_map[0], int(full_map[1]), int(ids.shape[0]))
            self._mapped_file = MappedFile(full_map[0])
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
        keep_full: ``"ram"`` (full vectors in memory, for rerank), ``"mmap"`` (never in anonymous
            memory: written by ``add`` to an unlinked temporary file in ``mmap_dir`` and read through
            its mapping; mapped from the index file once saved and loaded) or ``None`` (no rerank).
        mmap_dir: directory of that temporary file with ``keep_full="mmap"`` (default: the
            system's temporary directory, ``TMPDIR``; choose a disk, not a RAM-backed tmpfs).
        transform: ``"pca"`` or an unfitted :class:`adanns.transforms.PCATransform`: fitted by
            :meth:`train`, saved with the index, applied to added vectors and queries (as in
            :class:`adanns.IVFIndex`; the path for embeddings that are not Matryoshka-trained).
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
        mmap_dir: Optional[PathLike] = None,
        transform: Union[None, str, PCATransform] = None,
    ) -> None:
        super().__init__(dim, 1, None, pq_dim, m, opq, metric, keep_full, niter=0, pq_niter=pq_niter,
                         opq_niter=opq_niter, seed=seed, kmeanspp=False, max_points_per_centroid=256,
                         max_train=max_train, mmap_dir=mmap_dir, transform=transform)


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
        mmap_dir: Optional[PathLike] = None,
        transform: Union[None, str, PCATransform] = None,
    ) -> None:
        super().__init__(dim, nlist, coarse_dim, pq_dim, m, opq, metric, keep_full, niter=niter,
                         pq_niter=pq_niter, opq_niter=opq_niter, seed=seed, kmeanspp=kmeanspp,
                         max_points_per_centroid=max_points_per_centroid, max_train=max_train,
                         mmap_dir=mmap_dir, transform=transform)

    def centroids(self) -> np.ndarray:
        self._require_trained("centroids")
        return self._core.centroids()

    def _describe(self) -> str:
        return f"nlist={self.nlist}, coarse_dim={self.coarse_dim}, "
