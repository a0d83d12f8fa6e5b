"""The benchmarked methods, one module per family of engines, joined in one registry:
family name -> a factory that makes the method's indices for a run (a family may build several,
e.g. one per ``coarse_dim``). A new peer adds a module with its ``FAMILIES`` and one line here."""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ..config import Context
from . import adanns, faiss, hnswlib, scann, svs
from .base import Method

REGISTRY: Dict[str, Callable[[Context], List[Method]]] = {
    **adanns.FAMILIES, **faiss.FAMILIES, **hnswlib.FAMILIES, **scann.FAMILIES, **svs.FAMILIES,
}
# run by default (adanns-ivfpq only when asked for: its OPQ-free training adds minutes on large data)
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
