"""adanns: adaptive approximate nearest-neighbour search for Matryoshka embeddings.

Each stage of an IVF search uses its own prefix of one stored vector: clustering and
probing on ``coarse_dim`` dims, the list scan on ``scan_dim`` dims (chosen per query
batch), an exact rerank on the full vector (or ``rerank_dim`` dims).

>>> import adanns
>>> index = adanns.IVFIndex(dim=768, nlist=1024, coarse_dim=64, metric="cosine")
>>> index.train(xb); index.add(xb)                                       # doctest: +SKIP
>>> D, I = index.search(xq, k=10, nprobe=16, scan_dim=128, rerank_k=100)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Union


def _core_missing(err: ImportError) -> ImportError:
    """A clear message when the compiled core cannot be imported, above all when the source
    folder (``python`` started in a clone) shadows the installed package."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.exists(os.path.join(os.path.dirname(here), "pyproject.toml")):
        return ImportError(
            f"adanns was imported from its source folder {here}, which has no compiled core (adanns._core): "
            f"the current directory shadows the installed package. Run Python from another directory, "
            f"or install in place with `pip install -e .` (original error: {err})"
        )
    return ImportError(f"the compiled core adanns._core cannot be imported ({err}); reinstall adanns")


try:
    from . import _core
except ImportError as _e:  # pragma: no cover - exercised by tests/test_layout.py in a subprocess
    raise _core_missing(_e) from None

# OpenMP's thread pool does not survive fork(): a child made after a search would hang in its
# first parallel region, so the core runs serially in forked children (docs/reliability.md).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_core._after_fork_in_child)

from . import datasets, evaluation, transforms
from ._format import FORMAT_VERSION, FormatError
from .filters import IDFilter
from .index import FlatIndex, IVFIndex
from .graph_index import GraphIndex
from .io import AnyIndex, load_index
from .params import SearchParams, SearchStats
from .pq_index import IVFPQIndex, PQIndex
from .sharded import ShardError, ShardedIndex  # Ray itself is imported only when one is created

__version__ = "0.1.0"
__all__ = ["IDFilter", "IVFIndex", "FlatIndex", "IVFPQIndex", "PQIndex", "GraphIndex", "SearchParams", "SearchStats", "load", "FormatError",
           "FORMAT_VERSION", "simd_level", "datasets", "transforms", "evaluation", "ShardedIndex", "ShardError"]


def load(path: Union[str, "os.PathLike[str]"], *, mmap: bool = False) -> AnyIndex:
    """Loads an index saved with ``index.save(path)``: an :class:`IVFIndex`, :class:`FlatIndex`,
    :class:`IVFPQIndex`, :class:`PQIndex` or :class:`GraphIndex`, whichever was saved.

    ``mmap=True`` (IVF-Flat / Flat): the vectors stay in the file, memory-mapped read-only, and
    are served from the page cache; only the ids are read into memory. Adds, removals and
    updates still work: each list they change is first copied into memory (copy-on-write per
    list). The file must stay intact while the index is in use: replacing it (``save`` writes a
    new file and renames it, which is safe) keeps the mapped old copy alive, but truncating or
    rewriting it in place is the user's responsibility (reads of a truncated mapping fault).

    Raises:
        FormatError: the file is not an adanns index, is of an unsupported version,
            truncated or corrupted.
        OSError: the file cannot be read.
    """
    return load_index(path, mmap=mmap)


def simd_level() -> str:
    """The kernel set the core chose for this CPU: ``"avx512"`` (the AVX2 kernels with AVX-512F
    GEMM kernels for probing and assignment), ``"avx2"`` or ``"scalar"``. The environment
    variable ``ADANNS_SIMD`` set to ``"avx2"`` or ``"scalar"`` before import caps the choice."""
    return _core.simd_level()

