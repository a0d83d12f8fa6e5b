"""Save / load of PQIndex and IVFPQIndex, in the adanns file format (adanns/io.py).

Same container as the other indices: magic, format version, a checksummed JSON header with
a section table, 64-byte-aligned sections each with its own CRC32; written atomically
(temporary file, fsync, rename, directory fsync). Sections of a ``pq`` / ``ivfpq`` file:

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

With ``keep_full="mmap"`` the ``full`` section is memory-mapped read-only by ``load`` (after
its checksum and values are verified); codes are small and copied into the core.
Any defect raises :class:`adanns.FormatError`.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from .io import FormatError, _get_int, read_sections, write_index_file

_PQ_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8"), "uint8": np.dtype("u1")}
PQ_TYPES = ("pq", "ivfpq")


def save_pq(index: Any, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes a PQIndex / IVFPQIndex to ``path`` (temporary file, fsync, atomic rename)."""
    header = dict(index._header())
    core = index._core
    # One consistent snapshot of lists and full vectors, taken by the core.
    sizes, ids, rows, codes, full = core.export_lists(True)
    ntotal = int(ids.shape[0])
    header["ntotal"] = ntotal
    m, p = core.m, core.pq_dim
    # Each section: (name, dtype, shape, pieces written one after the other).
    arrays: List[Tuple[str, np.dtype, Tuple[int, ...], List[np.ndarray]]] = []
    if core.nlist > 1:
        c = core.centroids()
        arrays.append(("centroids", c.dtype, c.shape, [c]))
    a = core.anchors()
    arrays.append(("anchors", a.dtype, a.shape, [a]))
    r = core.rotation()
    if r is not None:
        arrays.append(("rotation", r.dtype, r.shape, [r]))
    cb = core.codebooks().reshape(m * 256, p // m)
    arrays.append(("codebooks", cb.dtype, cb.shape, [cb]))
    for name, arr in (("list_sizes", sizes), ("ids", ids), ("rows", rows), ("codes", codes)):
        arrays.append((name, arr.dtype, arr.shape, [arr]))
    if index.keep_full is not None:
        arrays.append(("full", np.dtype("<f4"), (ntotal, index.dim), [full]))

    write_index_file(path, header, arrays)


def _sections(buf: memoryview, header: Dict[str, Any], check_crc: bool) -> Dict[str, Tuple[np.ndarray, int]]:
    """name -> (array view into buf, file offset), every bound and checksum verified."""
    return read_sections(buf, header, check_crc, _PQ_DTYPES)


def _all_finite(a: np.ndarray) -> bool:
    step = max(1, (1 << 24) // max(1, a.shape[1] if a.ndim == 2 else 1))
    return all(np.isfinite(a[b : b + step]).all() for b in range(0, a.shape[0], step)) if a.ndim else bool(np.isfinite(a))


def load_pq(path: str, buf: memoryview, header: Dict[str, Any], check_crc: bool = True) -> Any:
    """Builds a PQIndex / IVFPQIndex from a verified header (called by adanns.io.load_index).

    Nothing returned keeps a reference to ``buf``: arrays are copied, and ``full`` is mapped
    again from ``path`` when the index keeps its full vectors memory-mapped."""
    try:
        return _load(path, buf, header, check_crc)
    except FormatError:
        raise
    except (ValueError, TypeError, OverflowError, RuntimeError, KeyError) as e:
        raise FormatError(f"inconsistent index file: {e}") from None


def _load(path: str, buf: memoryview, header: Dict[str, Any], check_crc: bool) -> Any:
    from .pq_index import IVFPQIndex, PQIndex

    kind = header.get("type")
    if kind not in PQ_TYPES:
        raise FormatError(f"unknown index type {kind!r}")
    dim = _get_int(header, "dim", 1, 1 << 20)
    ntotal = _get_int(header, "ntotal", 0, (1 << 32) - 2)
    nlist = _get_int(header, "nlist", 1, 1 << 31)
    if kind == "pq" and nlist != 1:
        raise FormatError("a pq index has one list")
    coarse_dim = _get_int(header, "coarse_dim", 1, dim)
    pq_dim = _get_int(header, "pq_dim", 1, dim)
    m = _get_int(header, "m", 1, pq_dim)
    if pq_dim % m:
        raise FormatError("pq_dim is not a multiple of m")
    metric = header.get("metric")
    if metric not in ("l2", "ip", "cosine"):
        raise FormatError("header field 'metric' is invalid")
    keep_full = header.get("keep_full")
    if keep_full not in (None, "ram", "mmap"):
        raise FormatError("header field 'keep_full' is invalid")
    opq = header.get("opq")
    if not isinstance(opq, bool):
        raise FormatError("header field 'opq' is invalid")
    next_id = _get_int(header, "next_id", 0, 2**63 - 1)
    opts = dict(
        pq_niter=_get_int(header, "pq_niter", 1, 1 << 20),
        opq_niter=_get_int(header, "opq_niter", 1, 1 << 20),
        seed=_get_int(header, "seed", 0, 2**63 - 1),
        max_train=_get_int(header, "max_train", 256, 1 << 48),
    )

    s = _sections(buf, header, check_crc)
    expected: Dict[str, Tuple[Tuple[int, ...], str]] = {
        "anchors": ((nlist, pq_dim), "float32"),
        "codebooks": ((m * 256, pq_dim // m), "float32"),
        "list_sizes": ((nlist,), "int64"),
        "ids": ((ntotal,), "int64"),
        "rows": ((ntotal,), "int64"),
        "codes": ((ntotal, m), "uint8"),
    }
    if nlist > 1:
        expected["centroids"] = ((nlist, coarse_dim), "float32")
    if opq:
        expected["rotation"] = ((pq_dim, pq_dim), "float32")
    if keep_full is not None:
        expected["full"] = ((ntotal, dim), "float32")
    for name, (shape, dt) in expected.items():
        if name not in s:
            raise FormatError(f"section {name!r} is missing")
        arr = s[name][0]
        if arr.shape != shape or arr.dtype.name != dt:
            raise FormatError(f"section {name!r} has shape {arr.shape} / {arr.dtype}, expected {shape} / {dt}")
    for name in s:
        if name not in expected:
            raise FormatError(f"unexpected section {name!r}")

    get = lambda name: s[name][0]  # noqa: E731
    floats = ["anchors", "codebooks"] + (["centroids"] if nlist > 1 else []) + (["rotation"] if opq else [])
    for name in floats:
        if not np.isfinite(get(name)).all():
            raise FormatError(f"non-finite values in section {name!r}")
    rotation = None
    if opq:
        rotation = get("rotation").copy()
        err = np.abs(rotation.astype(np.float64) @ rotation.T.astype(np.float64) - np.eye(pq_dim)).max()
        if err > 1e-3:
            raise FormatError("the stored rotation is not orthogonal")
    sizes, ids, rows = get("list_sizes"), get("ids"), get("rows")
    if (sizes < 0).any() or (sizes > ntotal).any() or sizes.sum(dtype=np.float64) > ntotal + 0.5 \
            or int(sizes.sum()) != ntotal:
        raise FormatError("list sizes do not add up to ntotal")
    if ntotal and ids.min() < 0:
        raise FormatError("negative ids in the file")
    if ntotal and (rows.min() < 0 or rows.max() >= ntotal or
                   np.bincount(rows, minlength=ntotal).max() != 1):
        raise FormatError("the full-vector rows are not a permutation of 0..ntotal-1")
    if ntotal and ids.max() >= next_id:
        raise FormatError("header field 'next_id' is below a stored id")

    full: Optional[np.ndarray] = None
    full_map: Optional[Tuple[str, int]] = None
    if keep_full is not None:
        fview, foff = s["full"]
        if not _all_finite(fview):
            raise FormatError("non-finite values in the stored full vectors")
        if ntotal == 0:
            full = None
        elif keep_full == "mmap":
            full_map = (os.fspath(path), foff)
        else:
            full = np.array(fview)

    common = dict(m=m, opq=opq, metric=metric, keep_full=keep_full, **opts)
    if kind == "pq":
        index = PQIndex(dim, pq_dim, **common)
    else:
        index = IVFPQIndex(
            dim, nlist, coarse_dim, pq_dim,
            niter=_get_int(header, "niter", 0, 1 << 20),
            kmeanspp=bool(header.get("kmeanspp", False)),
            max_points_per_centroid=_get_int(header, "max_points_per_centroid", 0, 1 << 40),
            **common,
        )
    index._install(
        get("centroids").copy() if nlist > 1 else None,
        get("anchors").copy(),
        rotation,
        get("codebooks").reshape(m, 256, pq_dim // m).copy(),
        sizes.copy(), ids.copy(), rows.copy(), get("codes").copy(), full, next_id, full_map,
    )
    return index
