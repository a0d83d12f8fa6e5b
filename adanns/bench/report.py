"""Analysis and output of a run: Pareto fronts, the AdANNS-vs-peer summary, tables, the JSON
document, markdown and the plot."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _core
from .config import TARGETS, SCHEMA_VERSION, Measurement, MethodReport, SweepConfig
from .measure import fmt_params


def _version(dist: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - metadata may be missing for any reason
        return None


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the (recall, qps) points not dominated by another point, by recall."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front: List[int] = []
    best_qps = -1.0
    for i in order:
        if points[i][1] > best_qps:
            front.append(i)
            best_qps = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def family_points(reports: Sequence[MethodReport]) -> Dict[str, List[Tuple[str, Measurement]]]:
    """All measurements grouped by family (with the name of the index they came from)."""
    out: Dict[str, List[Tuple[str, Measurement]]] = {}
    for rep in reports:
        for m in rep.results:
            out.setdefault(m.family, []).append((rep.name, m))
    return out


def best_at(points: Sequence[Tuple[str, Measurement]], target: float) -> Optional[Tuple[str, Measurement]]:
    """The fastest setting whose recall@10 reaches ``target``."""
    ok = [p for p in points if p[1].recall_at_10 >= target]
    return max(ok, key=lambda p: p[1].qps) if ok else None


def summarize(reports: Sequence[MethodReport], targets: Sequence[float] = TARGETS, ref: str = "adanns-ivf") -> List[Dict[str, Any]]:
    """Rows: at each target, ``ref``'s best QPS over each other family's best QPS."""
    fams = family_points(reports)
    order = [f for f in _family_order(reports) if f != ref]
    rows: List[Dict[str, Any]] = []
    for target in targets:
        mine = best_at(fams.get(ref, []), target)
        for fam in order:
            status = _family_status(reports, fam)
            theirs = best_at(fams.get(fam, []), target) if status == "ok" else None
            row: Dict[str, Any] = {
                "target_recall_at_10": target,
                "method": fam,
                "status": status,
                "adanns_qps": mine[1].qps if mine else None,
                "adanns_setting": {"index": mine[0], **mine[1].params} if mine else None,
                "method_qps": theirs[1].qps if theirs else None,
                "method_setting": {"index": theirs[0], **theirs[1].params} if theirs else None,
                "ratio": (mine[1].qps / theirs[1].qps) if (mine and theirs) else None,
            }
            rows.append(row)
    return rows


def _family_order(reports: Sequence[MethodReport]) -> List[str]:
    seen: List[str] = []
    for rep in reports:
        fams = [rep.family] + [m.family for m in rep.results]
        for f in fams:
            if f not in seen:
                seen.append(f)
    return seen


def _family_status(reports: Sequence[MethodReport], fam: str) -> str:
    reps = [r for r in reports if r.family == fam or any(m.family == fam for m in r.results)]
    if any(r.status == "ok" and any(m.family == fam for m in r.results) for r in reps):
        return "ok"
    reasons = sorted({r.reason or "no results" for r in reps})
    return "skipped: " + "; ".join(reasons) if reasons else "skipped: not run"


def _fmt(x: Optional[float], spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(report: Dict[str, Any]) -> str:
    """A plain-text table: the skipped methods, then the Pareto points of each family."""
    lines = []
    hdr = f"{'method':<26} {'index / setting':<52} {'R@1':>6} {'R@10':>6} {'R@100':>6} {'QPS':>9} {'p50ms':>7} {'p99ms':>7} {'Madd/q':>8} {'build s':>7} {'B/vec':>7}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for rep in report["methods"]:
        if rep["status"] != "ok":
            lines.append(f"{rep['family']:<26} {rep['name']:<52} skipped: {rep['reason']}")
    widths = (26, 52, 6, 6, 6, 9, 7, 7, 8, 7, 7)
    for cells in _pareto_rows(report, ",.0f"):
        cells[1], cells[5] = cells[1][:52], cells[5].replace(",", "")
        lines.append(" ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths))))
    return "\n".join(lines)


def _pareto_rows(report: Dict[str, Any], qps_spec: str) -> List[List[str]]:
    """The cells of each Pareto point: method, index / setting, R@1, R@10, R@100, QPS, p50, p99,
    Madd/query (millions), build s, bytes/vector."""
    rows = []
    for fam, pts in report["pareto"].items():
        for p in pts:
            r = p["result"]
            madds = None if r["madds_per_query"] is None else r["madds_per_query"] / 1e6
            rows.append([fam, f"{p['index']} {fmt_params(r['params'])}", f"{r['recall_at_1']:.3f}",
                         f"{r['recall_at_10']:.3f}", _fmt(r["recall_at_100"], ".3f"), format(r["qps"], qps_spec),
                         _fmt(r["latency_p50_ms"], ".3f"), _fmt(r["latency_p99_ms"], ".3f"), _fmt(madds, ".3f"),
                         _fmt(p["build_seconds"], ".1f"), _fmt(p["bytes_per_vector"], ".1f")])
    return rows


def format_summary(report: Dict[str, Any]) -> str:
    """The ratio table: AdANNS best QPS / peer best QPS at each recall@10 target."""
    lines = [f"{'recall@10':>9}  {'vs method':<26} {'adanns QPS':>10} {'method QPS':>10} {'ratio':>7}"]
    for row in report["summary"]:
        if row["status"] != "ok":
            lines.append(f"{row['target_recall_at_10']:>9.2f}  {row['method']:<26} {row['status']}")
            continue
        lines.append(
            f"{row['target_recall_at_10']:>9.2f}  {row['method']:<26} {_fmt(row['adanns_qps'], '10.0f'):>10} "
            f"{_fmt(row['method_qps'], '10.0f'):>10} {_fmt(row['ratio'], '7.2f'):>7}"
        )
    return "\n".join(lines)


def plot(report: Dict[str, Any], path: str) -> Optional[str]:
    """Recall@10-vs-QPS Pareto fronts as a PNG; returns a reason string if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib not installed ({e})"
    fig, ax = plt.subplots(figsize=(9, 6))
    markers = "os^vD<>phX*"
    for i, (fam, pts) in enumerate(report["pareto"].items()):
        xs = [p["result"]["recall_at_10"] for p in pts]
        ys = [p["result"]["qps"] for p in pts]
        bold = fam.startswith("adanns")
        ax.plot(xs, ys, marker=markers[i % len(markers)], lw=2.5 if bold else 1.2, ms=5, label=fam, zorder=3 if bold else 2)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (batch, all cores)")
    ds = report["dataset"]
    ax.set_title(f"{ds['name']}: {ds['n_base']} x {ds['dim']}, {ds['n_query']} queries, {ds['metric']}" + (", PCA" if ds["pca"] else ""))
    lo = min([p["result"]["recall_at_10"] for pts in report["pareto"].values() for p in pts] or [0.5])
    ax.set_xlim(max(0.5, lo - 0.02), 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def render_markdown(report: Dict[str, Any], image: Optional[str] = None) -> str:
    """A markdown section for one dataset: setup, summary ratios, Pareto table, skipped peers."""
    ds, env = report["dataset"], report["environment"]
    out = [f"### {ds['name']}", ""]
    out.append(
        f"{ds['n_base']:,} base vectors x {ds['dim']} dims, {ds['n_query']:,} queries, metric `{ds['metric']}`"
        f"{', PCA-rotated (no centering)' if ds['pca'] and not ds.get('pca_center') else (', PCA-rotated' if ds['pca'] else '')}; "
        f"nlist {report['config']['nlist']}; {env['cpu_count']} cores ({env['cpu']}); "
        f"total run {report['total_seconds']:.0f} s{' (--quick)' if report['config']['quick'] else ''}."
    )
    out += ["", "AdANNS best QPS / peer best QPS at a recall@10 target (best setting reaching it):", ""]
    out.append("| vs method | ratio @0.90 | ratio @0.95 | adanns QPS @0.90 / @0.95 | peer QPS @0.90 / @0.95 |")
    out.append("|---|---:|---:|---:|---:|")
    by: Dict[str, Dict[float, Dict[str, Any]]] = {}
    for row in report["summary"]:
        by.setdefault(row["method"], {})[row["target_recall_at_10"]] = row
    for fam, rows in by.items():
        r90, r95 = rows.get(0.90, {}), rows.get(0.95, {})
        if r90.get("status", "ok") != "ok":
            out.append(f"| {fam} | {r90['status']} | | | |")
            continue

        def q(r: Dict[str, Any], key: str) -> str:
            return "not reached" if r.get(key) is None else f"{r[key]:,.0f}"

        def ratio(r: Dict[str, Any]) -> str:
            return "n/a" if r.get("ratio") is None else f"**{r['ratio']:.2f}x**"

        out.append(f"| {fam} | {ratio(r90)} | {ratio(r95)} | {q(r90, 'adanns_qps')} / {q(r95, 'adanns_qps')} | {q(r90, 'method_qps')} / {q(r95, 'method_qps')} |")
    if image:
        out += ["", f"![{ds['name']} recall vs QPS]({image})"]
    out += ["", "Pareto-optimal settings of each method:", ""]
    out.append("| method | index / setting | R@1 | R@10 | R@100 | QPS | p50 ms | p99 ms | Madd/query | build s | bytes/vec |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out += ["| " + " | ".join(cells) + " |" for cells in _pareto_rows(report, ",.0f")]
    skipped = [m for m in report["methods"] if m["status"] != "ok"]
    if skipped:
        out += ["", "Skipped:", ""]
        out += [f"- `{m['name']}`: skipped: {m['reason']}" for m in skipped]
    return "\n".join(out) + "\n"


def build_report(ds_info: Dict[str, Any], cfg: SweepConfig, quick: bool, gt_info: Dict[str, Any], reports: List[MethodReport], total: float) -> Dict[str, Any]:
    """The JSON document of a run (schema in docs/benchmarks.md)."""
    fams = family_points(reports)
    index_meta = {r.name: r for r in reports}
    pareto: Dict[str, List[Dict[str, Any]]] = {}
    for fam in _family_order(reports):
        pts = fams.get(fam, [])
        if not pts:
            continue
        front = pareto_front([(m.recall_at_10, m.qps) for _, m in pts])
        pareto[fam] = [
            {
                "index": pts[i][0],
                "build_seconds": index_meta[pts[i][0]].build_seconds,
                "bytes_per_vector": index_meta[pts[i][0]].bytes_per_vector,
                "result": asdict(pts[i][1]),
            }
            for i in front
        ]
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": ds_info,
        "environment": _environment(),
        "config": {**asdict(cfg), "quick": quick, "targets": list(TARGETS)},
        "ground_truth": gt_info,
        "total_seconds": total,
        "methods": [asdict(r) for r in reports],
        "pareto": pareto,
        "summary": summarize(reports),
    }


def _environment() -> Dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    simd = _core.simd_level()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "adanns_simd": simd,
        "versions": {p: _version(p) for p in ("adanns", "numpy", "faiss-cpu", "hnswlib", "scann", "scalable-vs")},
    }


def json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(path: str, doc: Any, indent: int = 1) -> None:
    """Writes a result document (numpy scalars and arrays allowed), creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=indent, default=json_default)
