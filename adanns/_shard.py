"""Pieces of :mod:`adanns.sharded`: the shard actor, the id split, the exact top-k merge and the
manifest files (checksums, atomic writes). Imports no ray: the actor class is wrapped by
``ray.remote`` when a :class:`~adanns.ShardedIndex` starts its shards."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ._format import FormatError
from .index import IVFIndex
from .io import load_index
from ._validation import as_ids, as_matrix, default_ids

PathLike = Union[str, "os.PathLike[str]"]


MANIFEST = "manifest.json"
MANIFEST_FORMAT = "adanns-sharded"
MANIFEST_VERSION = 1
_HASH_CHUNK = 1 << 24


class ShardError(RuntimeError):
    """A shard's actor died or cannot be reached. ``shard`` is its number; the message says
    how to bring it back (:meth:`ShardedIndex.restart_shard`)."""

    def __init__(self, shard: int, message: str) -> None:
        super().__init__(message)
        self.shard = shard


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError('ShardedIndex needs Ray: pip install "adanns[ray]"') from None
    if not ray.is_initialized():
        ray.init()
    return ray


# --------------------------------------------------------------------------- helpers (pure)
def shard_of(ids: np.ndarray, shards: int) -> np.ndarray:
    """The shard of each id: a splitmix64 hash of the id modulo ``shards`` (stable across
    runs and machines, balanced for sequential or strided ids)."""
    z = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(shards)).astype(np.int64)


def merge_topk(D: np.ndarray, I: np.ndarray, k: int, descending: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of each row of the concatenated per-shard results ``(D, I)`` (nq, m).

    Order: best distance first (ascending, or descending for similarities), ties by smaller
    id, missing results (id -1) last: the order one index produces."""
    key = -D if descending else D
    id_key = np.where(I < 0, np.iinfo(np.int64).max, I)
    order = np.lexsort((id_key, key), axis=-1)[:, :k]
    return np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1)


def _pad(D: np.ndarray, I: np.ndarray, k: int, descending: bool) -> Tuple[np.ndarray, np.ndarray]:
    if D.shape[1] >= k:
        return D, I
    nq, m = D.shape
    Dp = np.full((nq, k), -np.inf if descending else np.inf, np.float32)
    Ip = np.full((nq, k), -1, np.int64)
    Dp[:, :m] = D
    Ip[:, :m] = I
    return Dp, Ip


def _sha256_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _write_atomic(path: str, data: bytes) -> None:
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _manifest_digest(body: Dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _split_rows(x: Any, ids: Optional[Any], id_offset: int, dim: int, shards: int) -> List[Any]:
    """Validates one block and splits it by shard:
    ``[(n, largest id or -1), (x_0, ids_0), ..., (x_S-1, ids_S-1)]``.

    Runs as a Ray task next to the block (``add_refs`` / ``add_dataset``) and on the driver
    for in-memory input (``add``); ``ids=None`` numbers the rows from ``id_offset``."""
    x = as_matrix(x, dim, "x")
    n = x.shape[0]
    id_arr = default_ids(id_offset, n) if ids is None else as_ids(ids, n)
    owner = shard_of(id_arr, shards)
    parts: List[Any] = [(n, int(id_arr.max()) if n else -1)]
    for s in range(shards):
        sel = np.flatnonzero(owner == s)
        parts.append((x[sel], id_arr[sel]))
    return parts


def _block_columns(block: Any, column: Optional[str], id_column: Optional[str]) -> Tuple[Any, Any]:
    """(vectors, ids or None) of one block: an array, or a dict of columns (Ray Dataset)."""
    if isinstance(block, dict):
        if column not in block:
            raise ValueError(f"column {column!r} not in the dataset (columns: {sorted(block)})")
        if id_column is not None and id_column not in block:
            raise ValueError(f"id column {id_column!r} not in the dataset (columns: {sorted(block)})")
        x = np.asarray(block[column])
        if x.dtype == object:  # a column of per-row arrays
            x = np.stack(list(x)) if len(x) else np.empty((0, 0), np.float32)
        return x, None if id_column is None else block[id_column]
    return block, None


def _block_rows(block: Any, column: Optional[str], id_column: Optional[str]) -> int:
    x, _ = _block_columns(block, column, id_column)
    return int(np.asarray(x).shape[0]) if np.ndim(x) >= 1 else 0


def _split_block(block: Any, ids: Any, column: Optional[str], id_column: Optional[str],
                 id_offset: int, dim: int, shards: int) -> List[Any]:
    x, col_ids = _block_columns(block, column, id_column)
    return _split_rows(x, ids if ids is not None else col_ids, id_offset, dim, shards)


# --------------------------------------------------------------------------- the shard actor
class _Shard:
    """One shard: an :class:`IVFIndex` inside a Ray actor (wrapped with ``ray.remote``)."""

    def __init__(self, shard: int) -> None:
        self.shard = shard
        self.index: Optional[IVFIndex] = None

    def open(self, path: Optional[str], blob: Optional[bytes], sha256: Optional[str]) -> Dict[str, Any]:
        """Loads the shard's index from its file (checksum verified) or from the bytes of the
        driver's trained index; a defect raises here (not in the constructor, whose errors
        Ray reports as a dead actor)."""
        shard = self.shard
        if path is not None:
            if sha256 is not None:
                digest, _ = _sha256_file(path)
                if digest != sha256:
                    raise FormatError(f"shard {shard}: file {path} does not match the manifest's checksum")
            self.index = load_index(path)
        else:  # a copy of the driver's trained, empty index
            fd, tmp = tempfile.mkstemp(suffix=".adanns")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)  # type: ignore[arg-type]
                self.index = load_index(tmp)
            finally:
                os.unlink(tmp)
        if not isinstance(self.index, IVFIndex):
            raise FormatError(f"shard {shard}: {path} holds a {type(self.index).__name__}, not an IVFIndex")
        return self.info()

    def info(self) -> Dict[str, Any]:
        ix = self.index
        c = np.ascontiguousarray(ix.centroids())
        return {"dim": ix.dim, "nlist": ix.nlist, "coarse_dim": ix.coarse_dim, "metric": ix.metric,
                "ntotal": ix.ntotal, "centroids_sha256": hashlib.sha256(c.tobytes()).hexdigest(), "pid": os.getpid()}

    def centroids(self) -> np.ndarray:
        return self.index.centroids()

    def ntotal(self) -> int:
        return self.index.ntotal

    # The changing calls return (their result, the shard's new size): the driver keeps the sizes.
    def add(self, part: Tuple[np.ndarray, np.ndarray]) -> Tuple[int, int]:
        x, ids = part
        if len(ids):
            self.index.add(x, ids=ids)
        return len(ids), self.index.ntotal

    def remove_ids(self, ids: np.ndarray) -> Tuple[int, int]:
        return (self.index.remove_ids(ids) if len(ids) else 0), self.index.ntotal

    def update(self, part: Tuple[np.ndarray, np.ndarray]) -> Tuple[int, int]:
        x, ids = part
        return (self.index.update(x, ids) if len(ids) else 0), self.index.ntotal

    def search(self, xq: np.ndarray, k: int, nprobe: int, scan_dim: int, rerank_k: int, rerank_dim: int,
               probe_dim: int, exact_rerank: bool, filt: Any = None) -> Tuple[Any, ...]:
        """Top-k of this shard, plus the seconds spent in the index (for the overhead figures).

        With ``exact_rerank``: the shard's top-``k`` scan candidates (``k`` = the caller's
        max(k, rerank_k)) with their scan distances, and the rerank distances of the same
        candidates, so the driver can pick the global scan top-k and rerank it exactly.
        ``filt``: the caller's IDFilter (with ``widen=False``: nprobe already is widened)."""
        t0 = time.perf_counter()
        n = self.index.ntotal
        kk = min(k, n)
        nq = xq.shape[0]
        if kk == 0:
            e = (np.empty((nq, 0), np.float32), np.empty((nq, 0), np.int64))
            return (e[0], e[1], e[0], time.perf_counter() - t0) if exact_rerank else (*e, time.perf_counter() - t0)
        common = dict(nprobe=nprobe, scan_dim=scan_dim, probe_dim=probe_dim, rerank_dim=rerank_dim, filter=filt)
        if not exact_rerank:
            D, I = self.index.search(xq, kk, rerank_k=min(rerank_k, n), **common)
            return D, I, time.perf_counter() - t0
        Ds, Is = self.index.search(xq, kk, rerank_k=0, **common)
        Dr, Ir = self.index.search(xq, kk, rerank_k=kk, **common)  # the same candidates, reranked
        # align the rerank distances with the scan order (same candidate set per row)
        pos_s = np.argsort(Is, axis=1, kind="stable")
        pos_r = np.argsort(Ir, axis=1, kind="stable")
        Dr_aligned = np.empty_like(Dr)
        rows = np.arange(nq)[:, None]
        Dr_aligned[rows, pos_s] = Dr[rows, pos_r]
        return Ds, Is, Dr_aligned, time.perf_counter() - t0

    def save(self, path: str) -> Dict[str, Any]:
        self.index.save(path)
        digest, size = _sha256_file(path)
        return {"sha256": digest, "bytes": size, "ntotal": self.index.ntotal}


# --------------------------------------------------------------------------- the driver side
def _referenced_files(d: str) -> set:
    try:
        body = _read_manifest(d)
    except (FormatError, OSError):
        return set()
    return {e["file"] for e in body["shards"]}


def _read_manifest(d: str) -> Dict[str, Any]:
    path = os.path.join(d, MANIFEST)
    with open(path, "rb") as f:
        raw = f.read(1 << 26)
    try:
        m = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: not a valid manifest ({e})") from None
    if not isinstance(m, dict) or not isinstance(m.get("body"), dict) or not isinstance(m.get("sha256"), str):
        raise FormatError(f"{path}: not an adanns sharded-index manifest")
    body = m["body"]
    if _manifest_digest(body) != m["sha256"]:
        raise FormatError(f"{path}: checksum mismatch (the manifest is corrupted)")
    if body.get("format") != MANIFEST_FORMAT:
        raise FormatError(f"{path}: not an adanns sharded-index manifest")
    if body.get("version") != MANIFEST_VERSION:
        raise FormatError(f"{path}: unsupported manifest version {body.get('version')!r}")
    shards = body.get("shards")
    if not isinstance(shards, list) or not shards:
        raise FormatError(f"{path}: no shards listed")
    for s, e in enumerate(shards):
        if (not isinstance(e, dict) or not isinstance(e.get("file"), str) or not isinstance(e.get("sha256"), str)
                or os.path.basename(e["file"]) != e["file"] or e["file"] in ("", ".", "..")):
            raise FormatError(f"{path}: bad entry for shard {s}")
    for key in ("dim", "nlist", "coarse_dim", "next_id"):
        if not isinstance(body.get(key), int) or isinstance(body.get(key), bool) or body[key] < 0:
            raise FormatError(f"{path}: bad {key!r}")
    if body.get("partition") != "id-splitmix64":
        raise FormatError(f"{path}: unknown partition {body.get('partition')!r}")
    return body
