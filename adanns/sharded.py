"""Sharded indices on Ray: one :class:`~adanns.IVFIndex` per Ray actor, one shared training.

The driver trains one index on a sample; every shard is an actor that starts from a copy of
that trained (empty) index, so all shards hold the same centroids. Vectors are split between
shards by a hash of their id, so every shard holds every list (a part of it); a search is sent
to all shards with the caller's settings and the per-shard top-k lists are merged exactly
(ties broken by id, as inside one index): the merged result equals the single index's on the
same data and settings. See ``docs/sharding.md``.

Ray is an optional dependency (``pip install "adanns[ray]"``): importing this module does not
import ray; creating or loading a :class:`ShardedIndex` does.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._format import FormatError
from .filters import as_filter
from .index import IVFIndex, search_settings
from .params import given_settings, search_keywords
from ._validation import as_id_list, as_ids, as_int, as_matrix, default_ids
from ._shard import (MANIFEST, MANIFEST_FORMAT, MANIFEST_VERSION, ShardError, _Shard, _block_rows, _manifest_digest, _pad, _ray, _read_manifest, _referenced_files, _split_block, _split_rows, _write_atomic, merge_topk, shard_of)

PathLike = Union[str, "os.PathLike[str]"]


def _index_property(name: str, doc: str) -> "property":
    """A read-only property of the sharded index's shape: from the shards once they exist (the
    ``info`` they reported), before that from the template index the shards will start from."""

    def get(self: "ShardedIndex") -> Any:
        return self._info[name] if self._info else getattr(self._template, name)

    return property(get, doc=doc)


class ShardedIndex:
    """An :class:`~adanns.IVFIndex` split over ``shards`` Ray actors, with the same API.

    >>> index = adanns.ShardedIndex(adanns.IVFIndex, shards=4, dim=768, nlist=4096,
    ...                             coarse_dim=64, metric="cosine")          # doctest: +SKIP
    >>> index.train(sample); index.add(xb)                                  # doctest: +SKIP
    >>> D, I = index.search(xq, k=10, nprobe=16, scan_dim=128, rerank_k=100)  # doctest: +SKIP

    Args:
        index_cls: the per-shard index class; :class:`~adanns.IVFIndex`.
        shards: number of shards (actors).
        actor_options: options for each actor (``ray.remote(...).options(**actor_options)``),
            e.g. ``{"num_cpus": 4}`` or a ``scheduling_strategy``.
        **index_args: the arguments of ``index_cls`` (dim, nlist, coarse_dim, metric, ...).

    Vectors go to shard ``hash(id) % shards``; every shard holds the same centroids. Searches
    fan out to every shard and the results are merged exactly. Needs ``ray`` (initialised
    with ``ray.init()`` by the caller, or here with the defaults).
    """

    def __init__(self, index_cls: type = IVFIndex, shards: int = 2, *,
                 actor_options: Optional[Dict[str, Any]] = None, **index_args: Any) -> None:
        if index_cls is not IVFIndex:
            raise TypeError(f"ShardedIndex supports IVFIndex shards, got {getattr(index_cls, '__name__', index_cls)!r}")
        self._shards_n = as_int(shards, "shards", 1, 4096)
        self._actor_options = dict(actor_options or {})
        self._template: Optional[IVFIndex] = IVFIndex(**index_args)  # validates the arguments now
        self._actors: List[Any] = []
        self._files: List[Optional[str]] = [None] * self._shards_n
        self._sha: List[Optional[str]] = [None] * self._shards_n
        self._dirty: List[bool] = [False] * self._shards_n
        self._next_id = 0
        self._info: Dict[str, Any] = {}
        self._centroids: Optional[np.ndarray] = None
        self._sizes: Optional[np.ndarray] = None

    # ----------------------------------------------------------------- properties
    @property
    def shards(self) -> int:
        """Number of shards (actors)."""
        return self._shards_n

    @property
    def is_trained(self) -> bool:
        return bool(self._actors)

    dim = _index_property("dim", "Full dimensionality of the vectors.")
    metric = _index_property("metric", "'l2' (squared Euclidean), 'ip' (inner product) or 'cosine'.")
    nlist = _index_property("nlist", "Number of inverted lists (the same in every shard).")
    coarse_dim = _index_property("coarse_dim", "Prefix used for clustering and probing.")

    def centroids(self) -> np.ndarray:
        """The (nlist, coarse_dim) centroids shared by every shard."""
        self._require_trained("centroids()")
        return self._centroids  # type: ignore[return-value]

    def shard_sizes(self) -> np.ndarray:
        """Number of vectors in each shard (kept by the driver; asked from the actors after
        a failed call)."""
        if not self._actors:
            return np.zeros(self._shards_n, np.int64)
        if self._sizes is None:
            self._sizes = np.array(self._gather([a.ntotal.remote() for a in self._actors]), np.int64)
        return self._sizes.copy()

    @property
    def ntotal(self) -> int:
        """Number of stored vectors, over all shards."""
        return int(self.shard_sizes().sum())

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return (f"ShardedIndex(shards={self._shards_n}, dim={self.dim}, nlist={self.nlist}, "
                f"coarse_dim={self.coarse_dim}, metric={self.metric!r})")

    # ----------------------------------------------------------------- actors
    def _actor_class(self) -> Any:
        ray = _ray()
        return ray.remote(_Shard).options(max_restarts=0, max_task_retries=0, **self._actor_options)

    def _start(self, sources: Sequence[Tuple[Optional[str], Optional[Any], Optional[str]]]) -> None:
        cls = self._actor_class()
        actors = [cls.remote(s) for s in range(len(sources))]
        try:
            infos = self._gather([a.open.remote(*src) for a, src in zip(actors, sources)], actors)
            first = infos[0]
            for s, inf in enumerate(infos):
                for key in ("dim", "nlist", "coarse_dim", "metric", "centroids_sha256"):
                    if inf[key] != first[key]:
                        raise FormatError(f"shard {s} does not match shard 0 ({key}: {inf[key]!r} vs "
                                          f"{first[key]!r}); all shards must come from one training")
        except BaseException:
            ray = _ray()
            for a in actors:
                ray.kill(a)
            raise
        self._actors = actors
        self._sizes = np.array([inf["ntotal"] for inf in infos], np.int64)
        self._info = {k: first[k] for k in ("dim", "nlist", "coarse_dim", "metric")}
        self._centroids = self._gather([actors[0].centroids.remote()], actors[:1])[0]
        self._template = None

    def _gather(self, refs: Sequence[Any], actors: Optional[Sequence[Any]] = None) -> List[Any]:
        """ray.get with the errors made plain: a user error raised in a shard comes back as
        itself; a dead actor as :class:`ShardError` naming the shard."""
        ray = _ray()
        actors = self._actors if actors is None else actors
        out: List[Any] = []
        for i, ref in enumerate(refs):
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayActorError as e:
                shard = i if len(refs) == len(actors) else -1
                where = self._files[shard] if shard >= 0 and shard < len(self._files) else None
                lost = " (its changes since the last save will be lost)" if where and self._dirty[shard] else ""
                hint = (f"restart it from its file with restart_shard({shard}) ({where}){lost}"
                        if where else "it was never saved, so it cannot be restarted from a file; rebuild the index")
                raise ShardError(shard, f"shard {shard} of {self._shards_n} is unavailable (its Ray actor died): "
                                        f"{type(e).__name__}; {hint}") from None
            except ray.exceptions.RayTaskError as e:
                cause = getattr(e, "cause", None)
                if isinstance(cause, BaseException):
                    raise cause from None
                raise
        return out

    def _require_trained(self, what: str) -> None:
        if not self._actors:
            raise RuntimeError(f"the index must be trained before {what}; call train(x) first")

    # ----------------------------------------------------------------- build
    def train(self, x: Any) -> None:
        """Trains one index on ``x`` (a sample, on the driver), then starts the shard actors,
        each from a copy of that trained index: all shards share the same centroids."""
        if self._actors:
            raise RuntimeError("this sharded index is already trained")
        template = self._template
        assert template is not None
        template.train(x)
        fd, tmp = tempfile.mkstemp(suffix=".adanns")
        os.close(fd)
        try:
            template.save(tmp)
            with open(tmp, "rb") as f:
                blob = f.read()
        finally:
            os.unlink(tmp)
        ray = _ray()
        ref = ray.put(blob)
        self._start([(None, ref, None)] * self._shards_n)
        self._dirty = [True] * self._shards_n

    def _dispatch(self, split_refs: Sequence[Sequence[Any]], method: str) -> List[Any]:
        """Sends part s of every block to shard s; returns the shards' answers per block."""
        calls = [[getattr(a, method).remote(parts[s]) for s, a in enumerate(self._actors)] for parts in split_refs]
        for s in range(self._shards_n):
            self._dirty[s] = True
        self._sizes = None  # until every answer is in
        out = [self._gather(c) for c in calls]
        self._sizes = np.array([r[1] for r in out[-1]], np.int64) if out else None
        return [[r[0] for r in per_block] for per_block in out]

    def add(self, x: Any, ids: Optional[Any] = None) -> None:
        """Adds the rows of ``x`` (n, dim), each to the shard of its id. Ids default to
        0, 1, 2, ... in order of addition, as in one index. Input is checked before any
        shard changes."""
        self._require_trained("add()")
        parts = _split_rows(x, ids, self._next_id, self.dim, self._shards_n)
        self._next_id = max(self._next_id, parts[0][1] + 1)
        ray = _ray()
        self._dispatch([[ray.put(p) for p in parts[1:]]], "add")

    def add_refs(self, x_refs: Sequence[Any], ids_refs: Optional[Sequence[Any]] = None) -> None:
        """Adds vectors held in the Ray object store: ``x_refs`` are refs to (n_i, dim) blocks,
        ``ids_refs`` (optional) refs to their id arrays.

        Each block is checked and split by shard in a Ray task (where the block lives), and
        each shard actor pulls its parts directly: the vectors never pass through the driver.
        Every block is checked before any shard changes."""
        self._require_trained("add_refs()")
        if ids_refs is not None and len(ids_refs) != len(x_refs):
            raise ValueError(f"ids_refs has {len(ids_refs)} entries, x_refs {len(x_refs)}")
        self._add_blocks(list(x_refs), None if ids_refs is None else list(ids_refs), None, None)

    def add_dataset(self, ds: Any, column: str = "vector", id_column: Optional[str] = None) -> None:
        """Adds a Ray Dataset whose ``column`` holds the vectors (fixed-size float arrays) and
        ``id_column`` (optional) the ids; built block by block as in :meth:`add_refs`."""
        self._require_trained("add_dataset()")
        refs = ds.to_numpy_refs()
        self._add_blocks(list(refs), None, column, id_column)

    def _add_blocks(self, blocks: List[Any], ids: Optional[List[Any]], column: Optional[str],
                    id_column: Optional[str]) -> None:
        ray = _ray()
        offsets = [0] * len(blocks)
        if ids is None and id_column is None:  # default ids: number the blocks in order
            rows = self._gather([ray.remote(_block_rows).remote(b, column, id_column) for b in blocks], [])
            acc = self._next_id
            for i, r in enumerate(rows):
                offsets[i], acc = acc, acc + r
            default_ids(self._next_id, acc - self._next_id)  # refuses ids past 2**63 - 2 before any work
        split = ray.remote(_split_block).options(num_returns=self._shards_n + 1)
        outs = [split.remote(b, None if ids is None else ids[i], column, id_column, offsets[i], self.dim,
                             self._shards_n) for i, b in enumerate(blocks)]
        metas = self._gather([o[0] for o in outs], [])  # every block validated before any shard changes
        self._next_id = max([self._next_id] + [m[1] + 1 for m in metas])
        self._dispatch([o[1:] for o in outs], "add")

    def remove_ids(self, ids: Any) -> int:
        """Removes the vectors with these ids (each from its shard); returns how many."""
        self._require_trained("remove_ids()")
        id_arr = as_id_list(ids)
        owner = shard_of(id_arr, self._shards_n)
        refs = [a.remove_ids.remote(id_arr[owner == s]) for s, a in enumerate(self._actors)]
        self._dirty = [True] * self._shards_n
        self._sizes = None
        out = self._gather(refs)
        self._sizes = np.array([r[1] for r in out], np.int64)
        return int(sum(r[0] for r in out))

    def update(self, x: Any, ids: Any) -> int:
        """Replaces the vectors stored under ``ids`` (new ids are added), each in its shard.
        Atomic per shard; a search running meanwhile may see some shards updated and not others."""
        self._require_trained("update()")
        x = as_matrix(x, self.dim, "x")
        id_arr = as_ids(ids, x.shape[0])
        if len(np.unique(id_arr)) != len(id_arr):
            raise ValueError("update() ids must be unique")
        parts = _split_rows(x, id_arr, 0, self.dim, self._shards_n)
        self._next_id = max(self._next_id, parts[0][1] + 1)
        ray = _ray()
        return int(sum(self._dispatch([[ray.put(p) for p in parts[1:]]], "update")[0]))

    # ----------------------------------------------------------------- search
    @search_keywords
    def search(self, xq: Any, k: int = 10, *, exact_rerank: bool = True, return_timings: bool = False,
               filter: Any = None, **settings: Optional[int]) -> Any:
        """Top-``k`` search over all shards; the settings are those of :meth:`IVFIndex.search`.

        Every shard probes the same lists (shared centroids) and returns its top candidates;
        the driver merges them by (distance, id). Without rerank the result equals one
        index's on the same data. With ``rerank_k`` and ``exact_rerank=True`` (default) each
        shard also returns the rerank distances of its scan candidates, the driver keeps the
        global scan top-``max(k, rerank_k)`` and ranks it by rerank distance: again equal to
        one index's result. ``exact_rerank=False`` reranks each shard's own top candidates
        (one scan per shard instead of two; the candidate pool is a superset of one index's,
        so recall is at least as high, but results may differ).

        ``filter``: only ids it allows are returned (an id allow-list, a boolean mask over ids or
        an :class:`adanns.IDFilter`, see :mod:`adanns.filters`). It is sent once to every shard
        (through the object store when large) and applied inside each shard's scan; ``nprobe``
        is widened once, here, for the filter's selectivity over the whole index (unless the
        IDFilter has ``widen=False``), so every shard probes the same lists as one index
        would and the merged result equals one index's filtered search.

        ``return_timings=True`` returns ``(D, I, timings)`` with the seconds spent in each
        shard's index, in the driver's merge, and in total.
        """
        self._require_trained("search()")
        t0 = time.perf_counter()
        ntotal = self.ntotal
        xq, (k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim) = search_settings(
            xq, k, given_settings(settings), dim=self.dim, ntotal=ntotal, nlist=self.nlist, coarse_dim=self.coarse_dim)
        descending = self.metric != "l2"
        filt = as_filter(filter)
        if filt is not None:
            nprobe = filt.widened(nprobe, k, ntotal, self.nlist)
            filt = filt.fixed()  # the shards search with the widened nprobe as it is
        nq = xq.shape[0]
        if nq == 0:
            D, I = np.empty((0, k), np.float32), np.empty((0, k), np.int64)
            return (D, I, {"shards": [], "merge": 0.0, "total": 0.0}) if return_timings else (D, I)
        exact = bool(exact_rerank) and rerank_k > 0 and self._shards_n > 1  # one shard: already exact
        kk = max(k, rerank_k) if exact else k
        ray = _ray()
        qref = ray.put(xq) if xq.nbytes > 65536 else xq  # small batches travel inline
        fref = None if filt is None else (ray.put(filt) if filt.nbytes > 65536 else filt)
        refs = [a.search.remote(qref, kk, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim, exact, fref)
                for a in self._actors]
        res = self._gather(refs)
        t1 = time.perf_counter()
        if exact:
            Ds = np.concatenate([r[0] for r in res], 1)
            Is = np.concatenate([r[1] for r in res], 1)
            Dr = np.concatenate([r[2] for r in res], 1)
            # global scan top-kk (what one index would rerank), then ranked by rerank distance
            key = -Ds if descending else Ds
            id_key = np.where(Is < 0, np.iinfo(np.int64).max, Is)
            cand = np.lexsort((id_key, key), axis=-1)[:, :kk]
            Dc = np.take_along_axis(Dr, cand, 1)
            Ic = np.take_along_axis(Is, cand, 1)
            Dc = np.where(Ic < 0, -np.inf if descending else np.inf, Dc).astype(np.float32)
            D, I = merge_topk(Dc, Ic, k, descending)
        else:
            D, I = merge_topk(np.concatenate([r[0] for r in res], 1), np.concatenate([r[1] for r in res], 1),
                              k, descending)
        D, I = _pad(np.ascontiguousarray(D), np.ascontiguousarray(I), k, descending)
        t2 = time.perf_counter()
        if return_timings:
            return D, I, {"shards": [r[-1] for r in res], "merge": t2 - t1, "total": t2 - t0}
        return D, I

    # ----------------------------------------------------------------- persistence
    def save(self, directory: PathLike) -> None:
        """Writes one index file per shard (each written by its actor, atomically, in the
        checksummed single-index format) and then ``manifest.json``, atomically: the manifest
        names the files with their SHA-256, so a directory is always either the old or the
        new save. Files of the previous save are removed afterwards. ``directory`` must be
        reachable from every actor (a local or shared filesystem)."""
        self._require_trained("save()")
        d = os.path.abspath(os.fspath(directory))
        os.makedirs(d, exist_ok=True)
        gen = secrets.token_hex(6)
        names = [f"shard-{s:05d}-{gen}.adanns" for s in range(self._shards_n)]
        paths = [os.path.join(d, n) for n in names]
        try:
            stats = self._gather([a.save.remote(p) for a, p in zip(self._actors, paths)])
        except BaseException:
            for p in paths:
                if os.path.exists(p):
                    os.unlink(p)
            raise
        body = {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "index_type": "IVFIndex",
            "partition": "id-splitmix64",
            "dim": self.dim, "nlist": self.nlist, "coarse_dim": self.coarse_dim, "metric": self.metric,
            "next_id": self._next_id,
            "shards": [{"file": n, **st} for n, st in zip(names, stats)],
        }
        manifest = {"body": body, "sha256": _manifest_digest(body)}
        old = _referenced_files(d)
        _write_atomic(os.path.join(d, MANIFEST), json.dumps(manifest, indent=1).encode())
        for name in old - set(names):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
        self._files = paths
        self._sha = [st["sha256"] for st in stats]
        self._dirty = [False] * self._shards_n

    @classmethod
    def load(cls, directory: PathLike, *, actor_options: Optional[Dict[str, Any]] = None) -> "ShardedIndex":
        """Starts one actor per shard file named in ``directory/manifest.json``. The manifest's
        checksum and structure are checked here, each file's SHA-256 by its actor; any defect
        raises :class:`~adanns.FormatError` naming the file or shard."""
        d = os.path.abspath(os.fspath(directory))
        body = _read_manifest(d)
        self = cls.__new__(cls)
        self._shards_n = len(body["shards"])
        self._actor_options = dict(actor_options or {})
        self._template = None
        self._files = [os.path.join(d, e["file"]) for e in body["shards"]]
        self._sha = [e["sha256"] for e in body["shards"]]
        self._dirty = [False] * self._shards_n
        self._next_id = int(body["next_id"])
        self._info = {}
        self._actors = []
        self._sizes = None
        for f in self._files:
            if not os.path.isfile(f):
                raise FormatError(f"{d}: shard file {os.path.basename(f)} named in the manifest is missing")
        self._start([(f, None, h) for f, h in zip(self._files, self._sha)])
        for key in ("dim", "nlist", "coarse_dim", "metric"):
            if self._info[key] != body[key]:
                raise FormatError(f"{d}: the shard files have {key}={self._info[key]!r}, the manifest {body[key]!r}")
        return self

    def restart_shard(self, shard: int) -> None:
        """Replaces shard ``shard``'s actor by a new one loaded from its last saved file
        (checksum verified). Changes made to that shard after the save are lost."""
        shard = as_int(shard, "shard", 0, self._shards_n - 1)
        path = self._files[shard]
        if path is None:
            raise RuntimeError(f"shard {shard} was never saved or loaded from a file; nothing to restart it from")
        ray = _ray()
        old = self._actors[shard]
        try:
            ray.kill(old)
        except Exception:  # already dead
            pass
        actor = self._actor_class().remote(shard)
        info = self._gather([actor.open.remote(path, None, self._sha[shard])], [actor])[0]
        if info["nlist"] != self.nlist or info["dim"] != self.dim or info["metric"] != self.metric:
            raise FormatError(f"shard {shard}: {path} does not match the other shards")
        self._actors[shard] = actor
        self._dirty[shard] = False
        self._sizes = None

    def shard_actors(self) -> List[Any]:
        """The Ray actor handles, shard by shard (for monitoring; do not call them directly)."""
        return list(self._actors)

    def close(self) -> None:
        """Stops the shard actors."""
        if self._actors:
            ray = _ray()
            for a in self._actors:
                try:
                    ray.kill(a)
                except Exception:
                    pass
        self._actors = []
