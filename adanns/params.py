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

:class:`SearchParams` holds one setting; tuning (:mod:`adanns.tuning`), the cost model
(:mod:`adanns.cost`) and the benchmark all speak in these names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional

KEYS = ("probe_dim", "nprobe", "scan_dim", "rerank_k", "rerank_dim")


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
