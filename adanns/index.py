"""IVFIndex and FlatIndex. Thin: validate, convert, call the C++ core.

Each class owns the codec of its file sections (``_to_sections`` / ``_from_sections``) in the
container of :mod:`adanns._format`; :mod:`adanns.io` dispatches ``load`` by type."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

import numpy as np

from . import _core, _progress
from ._format import Container, FormatError, MappedFile, Section, all_finite, get_int, write_index_file
from ._limits import check_lists_memory, check_memory, field, param
from ._validation import METRIC_NAMES, as_id_list, as_ids, as_int, as_matrix, default_ids, max_abs_value, metric_code, update_input
from ._stored_transform import Transformed, make_transform, transform_from_file, transform_header, transform_sections
from .filters import IDFilter
from .params import KEYS, SearchStats
from .transforms import PCATransform
from .tuning import Tunable

PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")


def _check_memory(nbytes: int, what: str) -> None:
    """Refuses up front an allocation that cannot fit (instead of being killed by the OS)."""
    check_memory(nbytes, what, "search fewer queries at a time or with a smaller k")


def _search_bytes(nq: int, k: int, nprobe: int = 1, dim: int = 0, rerank_k: int = 0) -> int:
    """Memory a batch search holds at once: the (D, I) results, the probe table (built by the
    core 64 MiB at a time: csrc/ivf/batch_driver.h probe_block_size), a copy of the queries
    (normalised for cosine), the query chunks' negated scan prefixes (inner product: at most one
    more copy of the queries, csrc/ivf/search.cpp) and the shortlists of the threads and the merge
    (2 max(k, rerank_k) candidates of 16 bytes and 4 max(k, rerank_k) floats of compaction scratch
    per query, at most about 64 MiB each: batch_driver.h chunk_size), with a rerank also its
    round's work arrays (a key of 12 bytes, an exact distance and a count-table entry per
    candidate: 20 bytes)."""
    block = max(1, (64 << 20) // (8 * max(1, nprobe)))
    shortlists = min(64 << 20, 48 * nq * max(k, rerank_k))
    rerank = shortlists * 20 // 48 if rerank_k > 0 else 0
    return (12 * nq * k + 8 * min(nq, block) * nprobe + 8 * nq * dim
            + (shortlists + rerank) * (int(_core.max_threads()) + 1))


def _setting(given: Mapping[str, Any], key: str, default: int, lo: int, hi: Optional[int] = None) -> int:
    v = given.get(key)
    return default if v is None else as_int(v, key, lo, hi)


def check_settings(given: Dict[str, Any]) -> None:
    """Rejects keywords outside the shared search vocabulary (:mod:`adanns.params`)."""
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown search setting(s) {unknown}; expected {list(KEYS)}")


def check_unique_ids(ids: Optional[np.ndarray]) -> None:
    """Ids within one ``add`` must be distinct (a search would otherwise return one id twice)."""
    if ids is not None and ids.size > 1:
        u, counts = np.unique(ids, return_counts=True)
        if u.size != ids.size:
            raise ValueError(f"duplicate ids within one add(): {u[counts > 1][:5].tolist()} appear more than once")


def core_property(name: str, kind: Callable[[Any], T], doc: str) -> "property":
    """A read-only property forwarded to the C++ core's attribute ``name`` (converted by ``kind``)."""

    def get(self: Any) -> T:
        return kind(getattr(self._core, name))

    return property(get, doc=doc)


def search_settings(
    xq: Any, k: int, s: Mapping[str, Optional[int]], *, dim: int, ntotal: int, nlist: int, coarse_dim: int,
    checked: bool = False,
) -> Tuple[np.ndarray, Tuple[int, int, int, int, int, int]]:
    """Validates the arguments of an IVF-family search (CPU, GPU or sharded index) against its shape.

    ``s`` maps the shared keywords (:data:`adanns.params.KEYS`) to values; a missing or None one
    takes its default (nprobe 1, rerank_k 0, all dims, probe_dim ``coarse_dim``). Returns the
    queries as float32 (nq, dim) and ``(k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim)``
    with the defaults filled in (``rerank_k`` capped at ``ntotal``), after checking that the
    search's memory (:func:`_search_bytes`) can be allocated. ``checked``: ``xq`` and ``k`` were
    already validated (by the index's ``_queries``).
    """
    if not checked:
        xq = as_matrix(xq, dim, "queries")
    k = as_int(k, "k", 1)
    if k > ntotal:
        raise ValueError(f"k={k} is larger than the number of vectors in the index ({ntotal})")
    nprobe = _setting(s, "nprobe", 1, 1, nlist)
    scan_dim = _setting(s, "scan_dim", dim, 1, dim)
    rerank_k = min(_setting(s, "rerank_k", 0, 0), ntotal)
    rerank_dim = _setting(s, "rerank_dim", dim, 1, dim)
    probe_dim = _setting(s, "probe_dim", coarse_dim, 1, coarse_dim)
    _check_memory(_search_bytes(xq.shape[0], k, nprobe, dim, rerank_k),
                  "the (D, I) result arrays, probe table and candidate lists")
    return xq, (k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim)


class _CoreProperties:
    """Properties every index shares, read from its C++ core (``self._core``, ``self._dim``)."""

    _dim: int
    _core: Any

    def _require_trained(self, what: str) -> None:
        if not self.is_trained:
            raise RuntimeError(f"{what}() needs a trained index; call train(x) first")

    @property
    def dim(self) -> int:
        """Full dimensionality of the stored vectors."""
        return self._dim

    @property
    def metric(self) -> str:
        """'l2' (squared Euclidean), 'ip' (inner product) or 'cosine'."""
        return METRIC_NAMES[self._core.metric]

    ntotal = core_property("ntotal", int, "Number of stored vectors.")
    is_trained = core_property("is_trained", bool, "True once the index is trained (a FlatIndex always is).")
    nlist = core_property("nlist", int, "Number of inverted lists (1 for an index without lists).")
    coarse_dim = core_property("coarse_dim", int, "Prefix used for clustering and probing (``dim`` without lists).")

    def list_sizes(self) -> np.ndarray:
        """Number of vectors in each inverted list."""
        return self._core.list_sizes()

    def __len__(self) -> int:
        return self.ntotal

    def _queries(self, xq: Any, k: Any) -> Tuple[np.ndarray, int, int]:
        """Checked search input: (queries as float32 (nq, dim), k, ntotal)."""
        if not self.is_trained:
            raise RuntimeError("the index must be trained before search()")
        xq = as_matrix(xq, self._dim, "queries")
        ntotal = self.ntotal
        k = as_int(k, "k", 1)
        if k > ntotal:
            raise ValueError(f"k={k} is larger than the number of vectors in the index ({ntotal})")
        return xq, k, ntotal


# What an IVFIndex's list scan can read (IVFIndex(scan_store=...)).
SCAN_STORES = ("float32", "int8")


class MappedGuard:
    """Every index that can serve rows from its memory-mapped file (``load(mmap=True)``,
    ``keep_full="mmap"``): the file is held open and checked on entry to each search, add,
    update, removal and save (:class:`adanns._format.MappedFile`), so that a file truncated or
    rewritten since load raises instead of crashing the process with SIGBUS."""

    _mapped_file: Optional[MappedFile] = None

    def _reads_mapped_file(self) -> bool:
        raise NotImplementedError

    def _check_mapped(self) -> None:
        if self._mapped_file is not None:
            if self._reads_mapped_file():
                self._mapped_file.check()
            else:
                self._mapped_file = None  # every row copied into memory: the file is no longer read


class _Index(_CoreProperties, Transformed, MappedGuard, Tunable):
    """Shared machinery of the AdANNS indices: one C++ core, three search stages."""

    _kind = ""
    _scan_store = "float32"  # IVFIndex(scan_store="int8"): the scan reads the int8 copy

    @property
    def is_mapped(self) -> bool:
        """True while some lists are served from a memory-mapped file (``adanns.load(mmap=True)``)."""
        return int(self._core.mapped_lists) > 0

    def _reads_mapped_file(self) -> bool:
        return self.is_mapped

    def __init__(self, dim: int, nlist: int, coarse_dim: int, metric: str) -> None:
        self._dim = param(dim, "dim")
        self._core = _core.IVFCore(self._dim, nlist, coarse_dim, metric_code(metric))

    # ----------------------------------------------------------------- add
    def add(self, x: Any, ids: Optional[Any] = None, *, progress: Optional[bool] = None) -> None:
        """Adds the rows of ``x`` (n, dim). Ids default to 0, 1, 2, ... in order of addition.

        With ``cosine`` the library normalises the vectors; the stored copy is normalised.
        ``progress``: a progress bar (see :mod:`adanns._progress`; default: shown for large
        adds when tqdm is installed). With a bar the lists are found block by block and the rows
        are stored in one step at the end. An add that fails or is interrupted (Ctrl-C) leaves
        the index as it was, with or without a bar.
        """
        if not self.is_trained:
            raise RuntimeError("the index must be trained before add(); call train(x) first")
        x = as_matrix(x, self._dim, "x")
        id_arr = None if ids is None else as_ids(ids, x.shape[0])
        check_unique_ids(id_arr)
        n = x.shape[0]
        if n == 0:
            return
        if id_arr is None:
            default_ids(int(self._core.next_id), n)  # refuses ids past 2**63 - 2
        self._check_mapped()
        if not _progress.wanted(progress, n):
            self._core.add(self._apply_transform(x), id_arr)
            return
        # With a bar: the lists are found block by block (the bar moves), then all rows are stored
        # in one step, so an interrupted add (Ctrl-C) adds nothing, as without a bar.
        x = np.ascontiguousarray(self._apply_transform(x), dtype=np.float32)
        rows = np.empty_like(x) if self._core.metric == 2 else x  # cosine: normalised copies
        lists = np.empty(n, np.int64)
        step = 1 << 16
        with _progress.bar(True, n, "adanns add", "vec") as update:
            for b in range(0, n, step):
                e = min(n, b + step)
                self._core.prepare(x[b:e], rows[b:e], lists[b:e])
                update(e - b)
        if id_arr is None:
            id_arr = default_ids(int(self._core.next_id), n)
        self._core.add_preassigned(rows, id_arr, lists)

    def remove_ids(self, ids: Any) -> int:
        """Removes every stored vector whose id is in ``ids``; returns how many were removed.

        Ids not in the index are ignored. Removals are persisted by :meth:`save`.
        """
        id_arr = as_id_list(ids)
        self._check_mapped()
        return int(self._core.remove_ids(id_arr))

    def update(self, x: Any, ids: Any) -> int:
        """Replaces the vectors stored under ``ids`` by the rows of ``x`` (ids not yet present
        are simply added). One step for concurrent searches: they see all of the old vectors
        or all of the new ones. Returns the number of stored vectors that were replaced."""
        x, id_arr = update_input(x, ids, self._dim, self.is_trained)
        if x.shape[0] == 0:
            return 0
        self._check_mapped()
        return int(self._core.update(self._apply_transform(x), id_arr))

    def reset(self) -> None:
        """Removes every stored vector and releases its memory (the training is kept); default
        ids start again at 0, as in a new index (the same in every family with reset())."""
        self._core.reset()

    # ----------------------------------------------------------------- search
    def _search_with(self, xq: Any, k: int, s: Mapping[str, Optional[int]], stats: Optional[SearchStats] = None,
                     filt: Optional[IDFilter] = None, exact: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        xq, k, ntotal = self._queries(xq, k)
        xq = self._apply_transform(xq)
        xq, settings = search_settings(xq, k, s, dim=self._dim, ntotal=ntotal, nlist=self._core.nlist,
                                       coarse_dim=self._core.coarse_dim, checked=self._transform is None)
        if xq.shape[0] == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        fargs = {} if filt is None else filt.core_args()
        if self._scan_store == "int8" and not exact:
            fargs["int8_scan"] = True
        self._check_mapped()
        if stats is None:
            return self._core.search(xq, *settings, **fargs)
        D, I, st = self._core.search(xq, *settings, True, **fargs)
        stats.add(xq.shape[0], st)
        return D, I

    # ----------------------------------------------------------------- shared vocabulary
    def _full_settings(self, given: Dict[str, Any]) -> Dict[str, int]:
        check_settings(given)
        cd, dim = self._core.coarse_dim, self._dim
        return {
            "nprobe": _setting(given, "nprobe", 1, 1, self._core.nlist),
            "probe_dim": _setting(given, "probe_dim", cd, 1, cd),
            "scan_dim": _setting(given, "scan_dim", dim, 1, dim),
            "rerank_k": _setting(given, "rerank_k", 0, 0),
            "rerank_dim": _setting(given, "rerank_dim", dim, 1, dim),
        }

    def _fixed_settings(self) -> Dict[str, int]:
        return {} if self._core.nlist > 1 else {"nprobe": 1, "probe_dim": self._core.coarse_dim}

    def _cost_terms(self, s: Dict[str, int]) -> Tuple[float, float]:
        """(multiply-adds per query, per scanned vector): the probe, then ``scan_dim`` per vector."""
        nlist = self._core.nlist
        return (float(s["probe_dim"] * nlist) if nlist > 1 else 0.0), float(s["scan_dim"])

    def _probe(self, xq: np.ndarray, nprobe: int, probe_dim: int) -> np.ndarray:
        return self._core.probe(self._apply_transform(xq), nprobe, probe_dim)

    def _exact_ground_truth(self, xq: np.ndarray, k: int) -> np.ndarray:
        return self._search_with(xq, k, {"nprobe": self._core.nlist}, exact=True)[1]  # every list, all dims

    # ----------------------------------------------------------------- persistence
    def save(self, path: PathLike) -> None:
        """Writes the index to one file, atomically (a failed save leaves any old file intact)."""
        self._check_mapped()
        header, sections = self._to_sections()
        write_index_file(path, header, sections)

    def _to_sections(self) -> Tuple[Dict[str, Any], List[Section]]:
        """The file header and sections (list_sizes, ids, vectors; centroids for IVF)."""
        header = dict(self._header())
        next_id = int(self._core.next_id)
        sizes, ids, vectors = self._core.export_lists()
        arrays: List[Tuple[str, np.ndarray]] = [("list_sizes", sizes), ("ids", ids), ("vectors", vectors)]
        if header["type"] == "ivf":
            arrays.insert(0, ("centroids", self._core.centroids()))
        arrays += transform_sections(self._transform)
        header["ntotal"] = int(ids.shape[0])
        # The next default id, when it is not what the loader infers (largest id + 1): ids removed
        # before the save are not given out again after load; other files keep their exact bytes.
        inferred = int(ids.max()) + 1 if ids.size else 0
        if next_id > inferred:
            header["next_id"] = next_id
        return header, [(name, a.dtype, a.shape, [a]) for name, a in arrays]

    @classmethod
    def _from_sections(cls, f: Container) -> "_Index":
        """Rebuilds an index from a verified container (the reverse of :meth:`_to_sections`)."""
        header = f.header
        kind = header.get("type")
        dim = field(header, "dim")
        ntotal = get_int(header, "ntotal", 0, 1 << 48)
        metric = header.get("metric")
        if metric not in ("l2", "ip", "cosine"):
            raise FormatError("header field 'metric' is invalid")
        if kind == "ivf":
            nlist = field(header, "nlist")
            coarse_dim = get_int(header, "coarse_dim", 1, dim)
            expected = {"centroids": (nlist, coarse_dim)}
        else:
            nlist = 1
            expected = {}
        table = f.sections()
        s = {name: arr for name, (arr, _) in table.items()}
        # Shapes are checked against the sections (whose sizes the file bounds) before anything
        # is allocated from header values.
        expected.update({"list_sizes": (nlist,), "ids": (ntotal,), "vectors": (ntotal, dim)})
        for name, shape in expected.items():
            if name not in s:
                raise FormatError(f"section {name!r} is missing")
            if s[name].shape != shape:
                raise FormatError(f"section {name!r} has shape {s[name].shape}, expected {shape}")
        index: _Index
        if kind == "ivf":
            scan_store = header.get("scan_store", "float32")
            if scan_store not in SCAN_STORES:
                raise FormatError("header field 'scan_store' is invalid")
            index = IVFIndex(
                dim, nlist, coarse_dim, metric,
                niter=field(header, "niter"),
                seed=get_int(header, "seed", 0, 2**64 - 1),
                kmeanspp=bool(header.get("kmeanspp", False)),
                max_points_per_centroid=field(header, "max_points_per_centroid"),
                scan_store=scan_store,
            )
            index._transform = transform_from_file(header.get("transform"), s, dim, metric)
        else:
            index = FlatIndex(dim, metric)
        sizes, ids, vectors = s["list_sizes"], s["ids"], s["vectors"]
        if sizes.dtype != np.int64 or ids.dtype != np.int64 or vectors.dtype != np.float32:
            raise FormatError("a section has the wrong dtype")
        # (the float sum bounds the total first, so the exact integer sum cannot overflow)
        if (sizes < 0).any() or (sizes > ntotal).any() or sizes.sum(dtype=np.float64) > ntotal + 0.5 \
                or int(sizes.sum()) != ntotal:
            raise FormatError("list sizes do not add up to ntotal")
        if ntotal and ids.min() < 0:
            raise FormatError("negative ids in the file")
        if vectors.size and not all_finite(vectors, max_abs_value(dim)):
            raise FormatError(f"stored vectors hold values that are not finite or not below {max_abs_value(dim):.3g}")
        if kind == "ivf":
            c = s["centroids"]
            if c.dtype != np.float32 or not all_finite(c, max_abs_value(dim)):
                raise FormatError("invalid centroids")
            trained = header.get("trained", True)
            if not isinstance(trained, bool) or (not trained and ntotal):
                raise FormatError("header field 'trained' is invalid")
            if trained:
                index._core.set_centroids(c)
            try:
                index._operating_points = index._points_from_header(header.get("operating_points"))
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                what = "operating point outside the index's ranges" if "outside" in str(e) else \
                    "invalid operating points in the header"
                raise FormatError(what) from None
        if f.mmap:
            # The vector section holds the lists one after the other, each row-major with stride
            # dim (the in-memory layout of csrc/storage/invlists.h), 64-byte aligned: the core maps
            # it as it is. Only the ids (8 bytes a row) are copied.
            index._core.map_lists(os.fspath(f.path), table["vectors"][1], np.array(sizes), ids)
            index._mapped_file = MappedFile(os.fspath(f.path))
        elif ntotal:
            lists = np.repeat(np.arange(nlist, dtype=np.int64), sizes)
            index._core.add_preassigned(vectors, ids, lists)
        if "next_id" in header:  # (files written before it was saved: max id + 1, as the lists give)
            index._core.raise_next_id(get_int(header, "next_id", 0, 2**63 - 1))
        return index

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
        transform: ``"pca"`` or an unfitted :class:`adanns.transforms.PCATransform` keeping all
            dims: fitted by :meth:`train`, saved with the index and applied to added vectors and
            queries automatically (the path for embeddings that were not Matryoshka-trained:
            the rotation puts the most energy in the leading dims, so prefixes work). ``"pca"``
            is a pure rotation for ``ip`` / ``cosine`` (which preserves their scores) and a
            centred PCA for ``l2`` (which preserves L2 distances); a centred transform is
            refused for ``ip`` / ``cosine``. Distances returned are those of the rotated
            vectors, equal to the original ones up to float rounding.
        scan_store: what the list scan reads. ``"float32"`` (default): the stored rows.
            ``"int8"``: an int8 copy of every row (per-dim affine codes, the first 8 dims in 16
            bits; ``dim + 8`` bytes a vector, about a quarter of the float rows, in blocks of 16
            rows per list) built from the stored rows at the first search after they change and
            never saved (a save keeps only this setting). The scan then only ranks: every search
            re-scores at least its ``k`` results exactly (``rerank_k`` is raised to ``k`` if
            lower), so the distances returned are exact. The fastest scan for every metric (one
            tile kernel, with AVX-512 VNNI where the CPU has it). See docs/choosing-parameters.md.

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
        transform: Union[None, str, PCATransform] = None,
        scan_store: str = "float32",
    ) -> None:
        self.scan_store = scan_store  # (checked first)
        dim = param(dim, "dim")
        nlist = param(nlist, "nlist")
        coarse_dim = dim if coarse_dim is None else as_int(coarse_dim, "coarse_dim", 1, dim)
        check_lists_memory(nlist, coarse_dim)
        super().__init__(dim, nlist, coarse_dim, metric)
        self._transform = make_transform(transform, dim, self.metric)
        self.niter = param(niter, "niter")
        self.seed = as_int(seed, "seed", 0, 2**64 - 1)
        self.kmeanspp = bool(kmeanspp)
        self.max_points_per_centroid = param(max_points_per_centroid, "max_points_per_centroid")
        self._operating_points = None

    @property
    def scan_store(self) -> str:
        """``"float32"`` or ``"int8"``: what the list scan reads (see the class docstring). It can
        be changed on a built index: the int8 copy is made at the next search that needs it."""
        return self._scan_store

    @scan_store.setter
    def scan_store(self, value: str) -> None:
        if value not in SCAN_STORES:
            raise ValueError(f"scan_store must be one of {SCAN_STORES}, got {value!r}")
        self._scan_store = value

    def train(self, x: Any, *, progress: Optional[bool] = None) -> None:
        """Learns the ``nlist`` centroids by k-means on ``x[:, :coarse_dim]`` (x is (n, dim)),
        after fitting the stored transform if there is one. ``progress``: a bar over the stages
        (see :meth:`add`)."""
        if self.ntotal > 0:
            raise RuntimeError("cannot retrain an index that holds vectors; call reset() first")
        x = as_matrix(x, self._dim, "x")
        if x.shape[0] < self.nlist:
            raise ValueError(f"training needs at least nlist={self.nlist} vectors, got {x.shape[0]}")
        stages = 1 + (self._transform is not None)
        with _progress.bar(_progress.wanted(progress, x.shape[0]), stages, "adanns train", "stage") as update:
            if self._transform is not None:
                x = self._fit_transform(x)
                update(1)
            self._core.train(x, self.niter, self.seed, self.kmeanspp, self.max_points_per_centroid)
            update(1)

    def centroids(self) -> np.ndarray:
        """The (nlist, coarse_dim) coarse centroids."""
        self._require_trained("centroids")
        return self._core.centroids()

    def _header(self) -> Dict[str, Any]:
        h = {
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
        if not self.is_trained:  # (absent: trained, as in files written before this field)
            h["trained"] = False
        if self._transform is not None:  # (absent otherwise: files without a transform are unchanged)
            h["transform"] = transform_header(self._transform)
        if self._scan_store != "float32":  # (absent: float32, as in files written before this field)
            h["scan_store"] = self._scan_store
        return h

    def _describe(self) -> str:
        t = "" if self._transform is None else ", transform='pca'"
        t += "" if self._scan_store == "float32" else f", scan_store={self._scan_store!r}"
        return f"dim={self.dim}, nlist={self.nlist}, coarse_dim={self.coarse_dim}, metric={self.metric!r}{t}"


class FlatIndex(_Index):
    """Exact search with the same prefix semantics as :class:`IVFIndex`.

    The pipeline with one list and no coarse stage: scan every vector on ``scan_dim``
    dims, optionally rerank ``rerank_k`` candidates on ``rerank_dim`` dims. With the
    defaults it is exact brute-force search, useful for ground truth and small data.
    ``search`` takes the keywords of :meth:`IVFIndex.search` (``nprobe`` and ``probe_dim`` are
    fixed: one list).
    """

    _kind = "flat"

    def __init__(self, dim: int, metric: str = "l2") -> None:
        dim = param(dim, "dim")
        super().__init__(dim, 1, dim, metric)
        self._core.set_centroids(np.zeros((1, dim), np.float32))

    def _header(self) -> Dict[str, Any]:
        return {"type": self._kind, "dim": self.dim, "metric": self.metric}
