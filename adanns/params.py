"""One search-parameter vocabulary for every index family.

Every index's ``search`` takes the same keywords (an index fixes the ones its structure does
not vary, e.g. a PQ index scans on ``pq_dim``):

=============  ==============================================================================
nprobe         lists probed per query (1 for an index without lists)
probe_dim      prefix of the centroids used to choose the lists (default: ``coarse_dim``)
scan_dim       prefix scanned in the lists (default: all dims; a PQ index: ``pq_dim``)
rerank_k       candidates re-scored exactly (0: the scan's ranking)
rerank_dim     prefix of the rerank (default: all dims)
=============  ==============================================================================

The graph index (:class:`adanns.GraphIndex`) has no lists: its ``beam`` (the walk's candidate
pool, how much of the index a query visits) takes the place of ``nprobe`` and its ``walk_dim``
(the prefix the walk scores on) that of ``scan_dim``; ``probe_dim`` is fixed. Its ``search`` and
``tune`` accept both names (:data:`GRAPH_ALIASES`); operating points store the shared ones.

:class:`SearchParams` holds one setting; tuning (:mod:`adanns.tuning`), the cost model
(:mod:`adanns.cost`) and the benchmark all speak in these names.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar

KEYS = ("probe_dim", "nprobe", "scan_dim", "rerank_k", "rerank_dim")
# KEYS in the order of the keywords of search()
SEARCH_KEYWORDS = ("nprobe", "scan_dim", "rerank_k", "rerank_dim", "probe_dim")
# the graph index's names for shared keys
GRAPH_ALIASES = {"beam": "nprobe", "walk_dim": "scan_dim"}


@dataclass(frozen=True)
class SearchParams:
    """One search setting; ``None`` means the index's default."""

    nprobe: Optional[int] = None
    probe_dim: Optional[int] = None
    scan_dim: Optional[int] = None
    rerank_k: Optional[int] = None
    rerank_dim: Optional[int] = None

    def given(self) -> Dict[str, int]:
        """The settings that were given (not None), as ``search`` keywords."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @staticmethod
    def from_mapping(m: Mapping[str, Any]) -> "SearchParams":
        unknown = sorted(set(m) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown search setting(s) {unknown}; expected {list(KEYS)}")
        return SearchParams(**{k: m[k] for k in KEYS if k in m})


@dataclass
class SearchStats:
    """Where a search's time went: pass one to ``search(..., stats=st)``; each call adds to it.

    Times are thread time in seconds (summed over the threads that ran the stage), so they stay
    meaningful for batch searches on several cores: ``coarse_s`` (probing the centroids),
    ``scan_s`` (scoring the probed lists on ``scan_dim`` dims and keeping the shortlist),
    ``rerank_s`` (exact re-scoring of the shortlist) and ``output_s`` (ids and distances out).
    ``rows_scanned`` and ``candidates_reranked`` count (query, row) pairs.
    """

    nq: int = 0
    coarse_s: float = 0.0
    scan_s: float = 0.0
    rerank_s: float = 0.0
    output_s: float = 0.0
    rows_scanned: int = 0
    candidates_reranked: int = 0

    def add(self, nq: int, core_stats: Mapping[str, Any]) -> None:
        """Adds one search call's figures (as returned by the core)."""
        self.nq += int(nq)
        for name in ("coarse_s", "scan_s", "rerank_s", "output_s", "rows_scanned", "candidates_reranked"):
            setattr(self, name, getattr(self, name) + type(getattr(self, name))(core_stats[name]))

    def per_query_us(self) -> Dict[str, float]:
        """Thread time per query and stage, in microseconds."""
        n = max(self.nq, 1)
        return {name[:-2]: getattr(self, name) * 1e6 / n for name in ("coarse_s", "scan_s", "rerank_s", "output_s")}

    def rerank_ns_per_candidate(self) -> float:
        """Thread time of the rerank stage per re-scored (query, row) pair, in nanoseconds."""
        return self.rerank_s * 1e9 / self.candidates_reranked if self.candidates_reranked else 0.0


F = TypeVar("F", bound=Callable[..., Any])


def search_keywords(method: F) -> F:
    """Declares the shared keywords (:data:`SEARCH_KEYWORDS`, each ``Optional[int] = None``) on a
    ``search`` written as ``search(self, xq, k=10, *, <its own keywords>, **settings)``: its
    signature (:func:`inspect.signature`, ``help()``) shows them after ``k``, in place of
    ``**settings``, and :func:`given_settings` reads them from ``settings``."""
    sig = inspect.signature(method)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    at = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Optional[int]")
              for name in SEARCH_KEYWORDS]
    method.__signature__ = sig.replace(parameters=params[:at] + shared + params[at:])  # type: ignore[attr-defined]
    return method


def given_settings(settings: Mapping[str, Any], method: str = "search") -> Dict[str, Any]:
    """The shared keywords a :func:`search_keywords` method was given (those not None); any other
    keyword is a TypeError, as Python raises for an unknown keyword argument."""
    for name in settings:
        if name not in SEARCH_KEYWORDS:
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}")
    return {name: v for name, v in settings.items() if v is not None}
