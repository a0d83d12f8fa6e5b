"""``adanns bench``: recall / QPS benchmark of AdANNS against Faiss and other engines.

One run = one dataset. The steps:

1. load the dataset (:func:`adanns.datasets.load_dataset`), optionally subsample it;
   cosine data is L2-normalised once, and data that is not Matryoshka-trained (GloVe,
   files) is rotated by a :class:`~adanns.transforms.PCATransform` so that prefixes carry
   most of the energy. Every method then indexes the same vectors;
2. exact top-100 ground truth, cached on disk under a content hash of (xb, xq, metric, k);
3. every method is built once and swept over its search settings; each series of a
   sweep (e.g. increasing ``nprobe``) stops once recall@10 reaches ``--stop-recall``;
4. per (method, setting): recall@1/10/100, batch QPS (all cores), single-query p50/p99
   latency, build time, bytes per vector, multiply-adds per query (where a model exists);
5. Pareto fronts (recall@10 vs QPS), the summary "AdANNS best QPS / peer best QPS at
   recall@10 >= 0.90 / 0.95", a printed table, a JSON file and a PNG plot.

Peers that are not installed, fail, or would not fit in memory are reported as
``skipped: <reason>``, never dropped. The JSON schema is documented in docs/benchmarks.md.

Layout: :mod:`.config` (grids, records), :mod:`.data` (data, ground-truth cache),
:mod:`.methods` (one module per engine family, joined in a registry), :mod:`.measure` (one
setting, one method), :mod:`.report` (Pareto, summary, tables, JSON, plot), :mod:`.cli`.
"""

from .cli import add_arguments, check_args, families_of, main, run
from .config import GT_K, K, SCHEMA_VERSION, TARGETS, Context, Measurement, MethodReport, Setting, SweepConfig, \
    default_nlist, make_config
from .data import cached_ground_truth, content_hash, prepare_data
from .measure import measure, recall, run_method
from .methods import ALL_FAMILIES, REGISTRY, make_methods
from .methods.base import Method
from .report import best_at, build_report, format_summary, format_table, pareto_front, plot, render_markdown, summarize

__all__ = ["add_arguments", "check_args", "families_of", "main", "run", "GT_K", "K", "SCHEMA_VERSION", "TARGETS",
           "Context", "Measurement", "MethodReport", "Setting", "SweepConfig", "default_nlist", "make_config",
           "cached_ground_truth", "content_hash", "prepare_data", "measure", "recall", "run_method", "ALL_FAMILIES",
           "REGISTRY", "make_methods", "Method", "best_at", "build_report", "format_summary", "format_table",
           "pareto_front", "plot", "render_markdown", "summarize"]
