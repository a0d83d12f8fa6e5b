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

from . import _core
from .index import FlatIndex, IVFIndex
from .io import FORMAT_VERSION, FormatError
from .pq_index import IVFPQIndex, PQIndex  # noqa: E402  (AdANNS-(IVF)(O)PQ, docs/pq.md)
from .graph_index import GraphIndex  # noqa: E402  (graph on a prefix, docs/graph.md)

__version__ = "0.1.0"
__all__ = ["IVFIndex", "FlatIndex", "IVFPQIndex", "PQIndex", "GraphIndex", "load", "FormatError", "FORMAT_VERSION", "simd_level"]


def load(path: Union[str, "os.PathLike[str]"]) -> Union[IVFIndex, FlatIndex, IVFPQIndex, PQIndex, GraphIndex]:
    """Loads an index saved with ``index.save(path)``.

    Raises:
        FormatError: the file is not an adanns index, is of an unsupported version,
            truncated or corrupted.
        OSError: the file cannot be read.
    """
    from .io import load_index

    return load_index(path)


def simd_level() -> str:
    """The kernel set the core chose for this CPU: ``"avx2"`` or ``"scalar"``."""
    return _core.simd_level()
