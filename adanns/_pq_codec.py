"""The file codec of the PQ indices (sections in the table of :mod:`adanns.pq_index`): checks
every field and section of a verified container, then installs the state into a new index."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ._format import Container, FormatError, all_finite, check_sections, get_int
from ._limits import field
from ._validation import max_abs_value
from ._stored_transform import transform_from_file


def read_pq(f: Container, classes: Dict[str, Any]) -> Any:
    """Builds a PQIndex / IVFPQIndex (``classes[type]``) from a verified file container."""
    header = f.header
    kind = header.get("type")
    if kind not in ("pq", "ivfpq"):
        raise FormatError(f"unknown index type {kind!r}")
    dim = field(header, "dim")
    ntotal = get_int(header, "ntotal", 0, (1 << 32) - 2)
    nlist = field(header, "nlist")
    if kind == "pq" and nlist != 1:
        raise FormatError("a pq index has one list")
    coarse_dim = get_int(header, "coarse_dim", 1, dim)
    pq_dim = get_int(header, "pq_dim", 1, dim)
    m = get_int(header, "m", 1, pq_dim)
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
    next_id = get_int(header, "next_id", 0, 2**63 - 1)
    opts = dict(
        pq_niter=field(header, "pq_niter"),
        opq_niter=field(header, "opq_niter"),
        seed=get_int(header, "seed", 0, 2**63 - 1),
        max_train=field(header, "max_train"),
    )
    trained = header.get("trained", True)
    if not isinstance(trained, bool) or (not trained and ntotal):
        raise FormatError("header field 'trained' is invalid")

    s = f.sections()
    expected: Dict[str, Tuple[Tuple[int, ...], str]] = {
        "list_sizes": ((nlist,), "int64"),
        "ids": ((ntotal,), "int64"),
        "rows": ((ntotal,), "int64"),
        "codes": ((ntotal, m), "uint8"),
    }
    if trained:
        expected.update({"anchors": ((nlist, pq_dim), "float32"), "codebooks": ((m * 256, pq_dim // m), "float32")})
    if nlist > 1 and trained:
        expected["centroids"] = ((nlist, coarse_dim), "float32")
    if opq and trained:
        expected["rotation"] = ((pq_dim, pq_dim), "float32")
    if keep_full is not None and trained:
        expected["full"] = ((ntotal, dim), "float32")
    th = header.get("transform")
    if isinstance(th, dict) and th.get("fitted"):
        for name, shape in (("transform_components", (dim, dim)), ("transform_mean", (dim,)),
                            ("transform_energy", (dim,))):
            expected[name] = (shape, "float32")
    check_sections(s, expected, exclusive=True)  # (before anything is allocated from the header)

    common = dict(m=m, opq=opq, metric=metric, keep_full=keep_full, **opts)
    if kind == "pq":
        index = classes["pq"](dim, pq_dim, **common)
    else:
        index = classes["ivfpq"](
            dim, nlist, coarse_dim, pq_dim,
            niter=field(header, "niter"),
            kmeanspp=bool(header.get("kmeanspp", False)),
            max_points_per_centroid=field(header, "max_points_per_centroid"),
            **common,
        )
    if not trained:  # an untrained index: its parameters and empty lists
        index._next_id = next_id
        index._transform = transform_from_file(th, {name: a for name, (a, _) in s.items()}, dim, metric)
        return index

    get = lambda name: s[name][0]  # noqa: E731
    floats = ["anchors", "codebooks"] + (["centroids"] if nlist > 1 else []) + (["rotation"] if opq else [])
    for name in floats:
        bound = max_abs_value(dim) if name in ("anchors", "centroids") else None  # means of stored values
        if not all_finite(get(name), bound):
            raise FormatError(f"non-finite or out-of-range values in section {name!r}")
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
        if not all_finite(fview, max_abs_value(dim)):
            raise FormatError(f"stored full vectors hold values that are not finite or not below {max_abs_value(dim):.3g}")
        if ntotal == 0:
            full = None
        elif keep_full == "mmap":
            full_map = (os.fspath(f.path), foff)
        else:
            full = np.array(fview)

    index._install(
        get("centroids").copy() if nlist > 1 else None,
        get("anchors").copy(),
        rotation,
        get("codebooks").reshape(m, 256, pq_dim // m).copy(),
        sizes.copy(), ids.copy(), rows.copy(), get("codes").copy(), full, next_id, full_map,
    )
    index._transform = transform_from_file(th, {name: a for name, (a, _) in s.items()}, dim, metric)
    try:
        index._operating_points = index._points_from_header(header.get("operating_points"))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise FormatError("invalid operating points in the header") from None
    return index
