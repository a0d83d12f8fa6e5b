"""The CUDA backend: an IVF (or flat) index copied to a GPU, searched with the same settings.

>>> import adanns.gpu
>>> gindex = adanns.gpu.to_gpu(index)                                   # doctest: +SKIP
>>> D, I = gindex.search(xq, k=10, nprobe=16, scan_dim=128, rerank_k=100)  # doctest: +SKIP
>>> index2 = gindex.to_cpu()                                            # doctest: +SKIP

The GPU index is a read-only snapshot of the CPU index at the time of :func:`to_gpu` (add,
remove and update happen on the CPU index; copy it again afterwards). Its search has the
semantics and output conventions of :meth:`adanns.IVFIndex.search`: the same ids at exact
settings, distances equal up to float rounding. Limits: ``max(k, rerank_k) <= 1024``, and
``nprobe <= 1024`` unless it equals ``nlist``.

The backend exists only in a CUDA build of the package (``docs/gpu.md``); :func:`cuda_built`
and :func:`device_count` say what this installation and machine offer.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from . import _core
from ._validation import METRIC_NAMES, as_int, metric_code
from .index import FlatIndex, IVFIndex, core_property, search_settings
from .params import given_settings, search_keywords

__all__ = ["GpuIVFIndex", "GpuUnavailableError", "cuda_built", "device_count", "is_available", "to_gpu"]

_INSTALL_HINT = 'install the CUDA build on a machine with the CUDA toolkit: pip install . -C cmake.define.ADANNS_CUDA=ON (docs/gpu.md)'


class GpuUnavailableError(RuntimeError):
    """This build has no CUDA backend, or no CUDA GPU is visible to the process."""


def cuda_built() -> bool:
    """Whether this installation of adanns was built with the CUDA backend."""
    return bool(getattr(_core, "cuda_built", False))


def device_count() -> int:
    """Number of CUDA GPUs usable by this process (0 without a CUDA build, a GPU or a driver)."""
    return int(_core.cuda_device_count()) if cuda_built() else 0


def is_available() -> bool:
    """Whether :func:`to_gpu` can work here: a CUDA build and at least one visible GPU."""
    return device_count() > 0


def _require_gpu(device: int) -> None:
    if not cuda_built():
        raise GpuUnavailableError(f"this adanns build has no CUDA backend; {_INSTALL_HINT}")
    n = device_count()
    if n == 0:
        raise GpuUnavailableError(
            "no CUDA GPU is visible to this process (no device, no driver, or CUDA_VISIBLE_DEVICES hides them)"
        )
    if not 0 <= device < n:
        raise ValueError(f"device must be in 0..{n - 1}, got {device}")


class GpuIVFIndex:
    """An :class:`~adanns.IVFIndex` or :class:`~adanns.FlatIndex` resident on a GPU (use :func:`to_gpu`).

    Lists are stored on the device in groups of 32 rows interleaved by chunks of 4 dims, so the
    list scan reads only the ``scan_dim`` prefix of every vector, with coalesced loads; the coarse
    probe is a GEMM on the ``probe_dim`` centroid prefixes; queries go in batches that keep the
    search workspace within ``memory_limit``.
    """

    def __init__(self, core: Any, header: Dict[str, Any]) -> None:
        self._core = core
        self._header = dict(header)

    dim = core_property("dim", int, "Full dimensionality of the stored vectors.")
    ntotal = core_property("ntotal", int, "Number of stored vectors.")
    nlist = core_property("nlist", int, "Number of inverted lists (1 for a FlatIndex).")
    coarse_dim = core_property("coarse_dim", int, "Prefix used for clustering and probing.")
    device = core_property("device", int, "The CUDA device the index lives on.")
    index_bytes = core_property(
        "index_bytes", int, "Device memory held by the index (lists padded to 32 rows, dims to 4, ids, centroids).")
    memory_limit = core_property("memory_limit", int, "Device memory budget of the index plus its search workspace, in bytes.")

    metric = core_property("metric", METRIC_NAMES.__getitem__, "'l2' (squared Euclidean), 'ip' (inner product) or 'cosine'.")

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return (f"GpuIVFIndex(dim={self.dim}, nlist={self.nlist}, coarse_dim={self.coarse_dim}, "
                f"metric={self.metric!r}, ntotal={self.ntotal}, device={self.device})")

    def batch_size(self, k: int = 10, *, nprobe: int = 1, rerank_k: int = 0, probe_dim: Optional[int] = None) -> int:
        """Queries per device batch with these settings (0: not even one fits ``memory_limit``)."""
        k = as_int(k, "k", 1)
        nprobe = as_int(nprobe, "nprobe", 1, self.nlist)
        rerank_k = as_int(rerank_k, "rerank_k", 0)
        pd = self.coarse_dim if probe_dim is None else as_int(probe_dim, "probe_dim", 1, self.coarse_dim)
        return int(self._core.batch_size(k, nprobe, rerank_k, pd))

    @search_keywords
    def search(self, xq: Any, k: int = 10, **settings: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` search of the rows of ``xq`` (nq, dim) on the GPU.

        Same arguments, defaults and results as :meth:`adanns.IVFIndex.search` (without the
        tuned ``target_recall`` / ``budget`` shortcuts).

        Raises:
            ValueError: bad shapes or values, ``max(k, rerank_k) > 1024``, or
                ``1024 < nprobe < nlist``.
            MemoryError: the memory limit leaves no room for the workspace of one query.
        """
        xq, full = search_settings(xq, k, given_settings(settings), dim=self.dim, ntotal=self.ntotal, nlist=self.nlist,
                                   coarse_dim=self.coarse_dim)
        k, nprobe, _, rerank_k, _, _ = full
        max_k = int(_core.gpu_max_k)
        if max(k, rerank_k) > max_k:
            raise ValueError(f"the GPU index supports k and rerank_k up to {max_k}, got k={k}, rerank_k={rerank_k}")
        if max_k < nprobe < self.nlist:
            raise ValueError(f"on the GPU nprobe must be at most {max_k} or equal to nlist={self.nlist}, got {nprobe}")
        if xq.shape[0] == 0:
            return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
        return self._core.search(xq, *full)

    def to_cpu(self) -> Union[IVFIndex, FlatIndex]:
        """A CPU index with this index's parameters, centroids, lists and ids (copied back)."""
        sizes, ids, vectors = self._core.export_lists()
        sections = {"list_sizes": sizes, "ids": ids, "vectors": vectors}
        if self._header["type"] == "ivf":
            sections["centroids"] = self._core.centroids()
        # The same validated path as load(), over in-memory sections instead of a file.
        state = _State(dict(self._header, ntotal=int(ids.shape[0])), sections)
        cls = IVFIndex if self._header["type"] == "ivf" else FlatIndex
        return cls._from_sections(state)  # type: ignore[arg-type]


class _State:
    """An in-memory stand-in for a verified file container (header + sections)."""

    def __init__(self, header: Dict[str, Any], sections: Dict[str, np.ndarray]) -> None:
        self.header = header
        self._sections = sections

    def sections(self) -> Dict[str, Tuple[np.ndarray, int]]:
        return {name: (arr, 0) for name, arr in self._sections.items()}


def to_gpu(index: Union[IVFIndex, FlatIndex], *, device: int = 0, memory_limit: Optional[int] = None) -> GpuIVFIndex:
    """Copies a trained :class:`~adanns.IVFIndex` or :class:`~adanns.FlatIndex` to a GPU.

    Args:
        index: the CPU index (it is not modified and stays usable).
        device: CUDA device number.
        memory_limit: bytes of device memory the GPU index may use for itself and its search
            workspace (default: 90% of the device memory free now). Searches run in batches of
            queries that fit it.

    Raises:
        GpuUnavailableError: the build has no CUDA backend or no GPU is visible.
        TypeError: not an IVFIndex / FlatIndex (the PQ indices have no GPU backend).
        RuntimeError: the index is not trained.
        MemoryError: the index does not fit ``memory_limit`` or the free device memory.
    """
    if not isinstance(index, (IVFIndex, FlatIndex)):
        raise TypeError(f"to_gpu takes an IVFIndex or a FlatIndex, got {type(index).__name__}")
    device = as_int(device, "device", 0)
    limit = 0 if memory_limit is None else as_int(memory_limit, "memory_limit", 1)
    _require_gpu(device)
    if not index.is_trained:
        raise RuntimeError("the index must be trained before it is copied to the GPU")
    sizes, ids, vectors = index._core.export_lists()
    core = _core.GpuIVF(device, index.dim, index._core.nlist, index._core.coarse_dim, metric_code(index.metric),
                        index._core.centroids(), sizes, ids, vectors, limit)
    return GpuIVFIndex(core, index._header())
