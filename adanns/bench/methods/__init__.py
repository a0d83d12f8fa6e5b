"""The benchmarked methods, one module per family of engines (:mod:`.adanns`, :mod:`.faiss`,
:mod:`.graphs`, :mod:`.scann`), joined in one registry: family name -> a factory that makes the
method's indices for a run (``Method.instances``; a family may build several, e.g. one per
``coarse_dim``). A new peer adds its class to :data:`REGISTRY`."""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ..config import Context
from .adanns import AdannsGraph, AdannsIVF, AdannsIVFPQ
from .base import Method
from .faiss import FaissFlat, FaissHNSW, FaissIVFFlat, FaissIVFFlatPanorama, FaissOPQRefine, FaissPrefixIVF
from .graphs import HnswLib, SVSVamana
from .scann import ScaNN

REGISTRY: Dict[str, Callable[[Context], List[Method]]] = {
    cls.family: cls.instances
    for cls in (AdannsIVF, AdannsIVFPQ, AdannsGraph, FaissFlat, FaissIVFFlat, FaissIVFFlatPanorama, FaissPrefixIVF,
                FaissOPQRefine, FaissHNSW, HnswLib, ScaNN, SVSVamana)
}
# run by default: all but adanns-ivfpq (ask for it with --methods; its training adds minutes on large data)
ALL_FAMILIES = tuple(f for f in REGISTRY if f != "adanns-ivfpq")


def check_families(families: Sequence[str]) -> None:
    """Raises ValueError naming any unknown family (before any data is loaded)."""
    unknown = [f for f in families if f not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown))}; choose from {', '.join(REGISTRY)}")


def make_methods(ctx: Context, families: Sequence[str]) -> List[Method]:
    """The methods to run, in order (AdANNS first, then the peers)."""
    check_families(families)
    return [m for fam in families for m in REGISTRY[fam](ctx)]
