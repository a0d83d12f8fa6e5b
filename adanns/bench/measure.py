"""Measuring one method: build, size on disk, and for each setting recall@1/10/100, batch QPS
(the one timer, :func:`adanns.evaluation.timed`), single-query latency, modelled cost."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Optional

import numpy as np

from .._measure import recall_at_k, timed
from .config import GT_K, Context, Measurement, MethodReport, Setting, log
from .methods.base import Method


def _available_memory() -> Optional[int]:
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _path_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def recall(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Recall k@k (see :func:`adanns.evaluation.recall_at_k`); both arrays need k columns."""
    if np.asarray(ids).shape[1] < k or np.asarray(gt).shape[1] < k:
        raise ValueError(f"need at least {k} columns in ids and gt")
    return recall_at_k(ids, gt, k)


def measure(method: Method, ctx: Context, s: Setting) -> Measurement:
    """All the metrics of one setting."""
    cfg, xq, gt = ctx.cfg, ctx.xq, ctx.gt
    ids, t = timed(lambda: method.search(xq, cfg.k, s), cfg.repeat, cfg.min_time)
    madds = method.madds(s, cfg.k)
    r1, r10 = recall(ids, gt, 1), recall(ids, gt, cfg.k)
    r100 = None
    nr = min(cfg.n_recall100, xq.shape[0])
    if nr > 0 and gt.shape[1] >= GT_K and ctx.xb.shape[0] >= GT_K:
        r100 = recall(method.search(xq[:nr], GT_K, s), gt[:nr], GT_K)
    p50 = p99 = None
    ns = min(cfg.n_single, xq.shape[0])
    if ns > 0:
        lat = np.empty(ns)
        method.search(xq[:1], cfg.k, s, single=True)  # warm-up
        for i in range(ns):
            q = xq[i : i + 1]
            t0 = time.perf_counter()
            method.search(q, cfg.k, s, single=True)
            lat[i] = time.perf_counter() - t0
        p50, p99 = float(np.percentile(lat, 50) * 1e3), float(np.percentile(lat, 99) * 1e3)
    return Measurement(method.family_of(s), dict(s), r1, r10, r100, xq.shape[0] / t, t, p50, p99, madds)


def run_method(method: Method, ctx: Context, tmp_root: str) -> MethodReport:
    """Builds and sweeps one method; any failure becomes a ``skipped`` report."""
    rep = MethodReport(method.name, method.family, method.library, "ok", build_params=dict(method.build_params))
    reason = method.check()
    avail = _available_memory()
    need = method.memory_bytes()
    if reason is None and avail is not None and need > 0.85 * avail:
        reason = f"needs ~{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available"
    if reason is not None:
        rep.status, rep.reason = "skipped", reason
        log(f"[{method.name}] skipped: {reason}")
        return rep
    try:
        log(f"[{method.name}] building ...")
        t = time.perf_counter()
        method.build()
        rep.build_seconds = time.perf_counter() - t
        rep.name, rep.build_params = method.name, dict(method.build_params)
        log(f"[{rep.name}] built in {rep.build_seconds:.1f} s")
        d = tempfile.mkdtemp(dir=tmp_root)
        try:
            path = method.serialize(d)
            if path is not None:
                rep.bytes_per_vector = _path_size(path) / ctx.xb.shape[0] + method.unsaved_bytes_per_vector()
        except Exception as e:  # noqa: BLE001 - size is optional
            log(f"[{rep.name}] size unavailable: {type(e).__name__}: {e}")
        finally:
            shutil.rmtree(d, ignore_errors=True)
        for series in method.series():
            prev = -1.0
            for s in series:
                m = measure(method, ctx, s)
                rep.results.append(m)
                log(
                    f"[{rep.name}] {fmt_params(s):<40} R@10 {m.recall_at_10:.4f}  QPS {m.qps:>9.0f}"
                    f"  p50 {m.latency_p50_ms or 0:.3f} ms"
                )
                # Stop at the target, on a very slow setting, or once more work lowers recall
                # (e.g. a short scan prefix polluted by more probed lists).
                if m.recall_at_10 >= ctx.cfg.stop_recall or m.batch_seconds > ctx.cfg.max_search_s or m.recall_at_10 < prev:
                    break
                prev = m.recall_at_10
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, never fatal
        rep.status, rep.reason = "skipped", f"failed: {type(e).__name__}: {e}"
        log(f"[{rep.name}] skipped: {rep.reason}")
    finally:
        method.release()
    return rep


def fmt_params(s: Setting) -> str:
    return " ".join(f"{k}={v}" for k, v in s.items()) or "-"
