"""Orthogonal transforms that put the most energy in the leading dimensions.

AdANNS settings such as ``coarse_dim`` and ``scan_dim`` assume a Matryoshka embedding:
every prefix is a usable coarser embedding. Embeddings that were not trained that way
(GloVe, SIFT, ...) can be made prefix-friendly by a PCA rotation whose axes are sorted
by decreasing variance (or energy), so that ``x[:, :d]`` keeps as much signal as any
``d``-dimensional linear projection can.

Only numpy is needed: the fit is one eigendecomposition of a ``dim x dim`` matrix.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ._limits import param
from ._validation import as_int

__all__ = ["PCATransform"]


class PCATransform:
    """A PCA rotation (optionally with mean-centering and truncation).

    Without centering (the default) the axes are the eigenvectors of the second-moment
    matrix ``E[x x^T]``, sorted by decreasing energy. This is a pure rotation when all
    components are kept, so inner products, cosines and L2 distances are preserved
    exactly (up to float rounding): use it for ``ip`` and ``cosine`` data, whose
    rankings centering would change. With ``center=True`` the axes are those of the
    covariance (classic PCA) and the mean is subtracted first; L2 distances are still
    preserved, inner products are not.

    Args:
        n_components: output dimensionality (default: all, i.e. a rotation).
        center: subtract the mean before rotating (only sensible for ``l2`` data).
        sample: the number of rows (drawn with ``seed``) used to estimate the matrix.
        seed: seed of the row sample.

    Attributes (after :meth:`fit`):
        mean_: (dim,) float64, zeros when ``center`` is False.
        components_: (n_components, dim) float64, rows are orthonormal axes.
        explained_variance_: (n_components,) eigenvalues (energy along each axis).
    """

    def __init__(self, n_components: Optional[int] = None, *, center: bool = False, sample: int = 200_000, seed: int = 0) -> None:
        if n_components is not None and n_components < 1:
            raise ValueError("n_components must be >= 1")
        self.n_components = n_components
        self.center = bool(center)
        self.sample = param(sample, "sample")  # the limits the file loader checks
        self.seed = as_int(seed, "seed", 0, 2**64 - 1)
        self.mean_: Optional[np.ndarray] = None
        self.components_: Optional[np.ndarray] = None
        self.explained_variance_: Optional[np.ndarray] = None

    @classmethod
    def for_metric(cls, metric: str, n_components: Optional[int] = None, **kwargs: Any) -> "PCATransform":
        """A transform with the right centering for ``metric``: centred for ``l2`` only."""
        return cls(n_components, center=(metric == "l2"), **kwargs)

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        return self.components_ is not None

    @property
    def dim_in(self) -> int:
        self._check_fitted()
        assert self.components_ is not None
        return int(self.components_.shape[1])

    @property
    def dim_out(self) -> int:
        self._check_fitted()
        assert self.components_ is not None
        return int(self.components_.shape[0])

    def fit(self, x: Any) -> "PCATransform":
        """Estimates the axes from the rows of ``x`` (n, dim); returns ``self``."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must be a non-empty 2-D array, got shape {x.shape}")
        n, dim = x.shape
        k = dim if self.n_components is None else self.n_components
        if k > dim:
            raise ValueError(f"n_components={k} is larger than the dimensionality {dim}")
        if n > self.sample:
            rows = np.sort(np.random.default_rng(self.seed).choice(n, self.sample, replace=False))
            xs = np.asarray(x[rows], dtype=np.float64)
        else:
            xs = np.asarray(x, dtype=np.float64)
        if not np.isfinite(xs).all():
            raise ValueError("x contains NaN or infinite values")
        mean = xs.mean(axis=0) if self.center else np.zeros(dim)
        xc = xs - mean if self.center else xs
        moment = (xc.T @ xc) / xs.shape[0]
        evals, evecs = np.linalg.eigh(moment)  # ascending
        order = np.argsort(evals)[::-1][:k]
        comps = evecs[:, order].T
        # Deterministic signs: the largest-magnitude coordinate of each axis is positive.
        signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        signs[signs == 0] = 1.0
        self.mean_ = mean
        self.components_ = comps * signs[:, None]
        self.explained_variance_ = np.maximum(evals[order], 0.0)
        return self

    def apply(self, x: Any, *, block: int = 1 << 16) -> np.ndarray:
        """The transformed rows of ``x`` (n, dim_in) as a C-contiguous float32 (n, dim_out).

        Works in blocks of ``block`` rows, so memory beyond the output stays small.
        """
        self._check_fitted()
        assert self.components_ is not None and self.mean_ is not None
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim_in:
            raise ValueError(f"x must have shape (n, {self.dim_in}), got {x.shape}")
        w = self.components_.T.astype(np.float32)
        mean = self.mean_.astype(np.float32)
        out = np.empty((x.shape[0], self.dim_out), np.float32)
        for b in range(0, x.shape[0], block):
            xb = np.asarray(x[b : b + block], dtype=np.float32)
            if self.center:
                xb = xb - mean
            np.matmul(xb, w, out=out[b : b + block])
        return out

    __call__ = apply

    def fit_apply(self, x: Any) -> np.ndarray:
        """``fit(x)`` then ``apply(x)``."""
        return self.fit(x).apply(x)

    def energy_fraction(self) -> np.ndarray:
        """Cumulative fraction of the energy kept by each prefix length 1..dim_out."""
        self._check_fitted()
        assert self.explained_variance_ is not None
        ev = self.explained_variance_
        total = ev.sum()
        return np.cumsum(ev) / total if total > 0 else np.zeros_like(ev)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        """Plain arrays and scalars (fits ``np.savez``); inverse of :meth:`from_dict`."""
        self._check_fitted()
        return {
            "n_components": -1 if self.n_components is None else self.n_components,
            "center": self.center,
            "sample": self.sample,
            "seed": self.seed,
            "mean": np.asarray(self.mean_),
            "components": np.asarray(self.components_),
            "explained_variance": np.asarray(self.explained_variance_),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PCATransform":
        """Rebuilds a fitted transform from :meth:`to_dict`'s output (or a loaded ``.npz``)."""
        nc = int(d["n_components"])
        t = cls(None if nc < 0 else nc, center=bool(d["center"]), sample=int(d["sample"]), seed=int(d["seed"]))
        comps = np.asarray(d["components"], dtype=np.float64)
        mean = np.asarray(d["mean"], dtype=np.float64)
        ev = np.asarray(d["explained_variance"], dtype=np.float64)
        if comps.ndim != 2 or mean.shape != (comps.shape[1],) or ev.shape != (comps.shape[0],):
            raise ValueError("inconsistent PCATransform arrays")
        t.components_, t.mean_, t.explained_variance_ = comps, mean, ev
        return t

    def save(self, path: str) -> None:
        """Writes the transform to an ``.npz`` file."""
        np.savez(path, **self.to_dict())

    @classmethod
    def load(cls, path: str) -> "PCATransform":
        """Reads a transform written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            return cls.from_dict({k: f[k] for k in f.files})

    def _check_fitted(self) -> None:
        if self.components_ is None:
            raise RuntimeError("the transform is not fitted; call fit(x) first")

    def __repr__(self) -> str:
        state = f"{self.dim_in}->{self.dim_out}" if self.is_fitted else "unfitted"
        return f"PCATransform({state}, center={self.center})"
