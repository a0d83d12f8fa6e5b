"""A scikit-learn estimator over adanns indices (needs the ``sklearn`` extra).

:class:`ANNTransformer` follows the conventions of scikit-learn's
:class:`~sklearn.neighbors.KNeighborsTransformer`: ``fit(X)`` builds an index over ``X``,
``transform(X)`` returns the sparse k-nearest-neighbours graph (CSR, ``n_neighbors + 1``
neighbours per row in ``mode="distance"``, each training point being its own first
neighbour), ``kneighbors`` returns ``(dist, ind)``. It plugs into a :class:`~sklearn.pipeline.Pipeline`
in front of an estimator that takes ``metric="precomputed"`` (Isomap, TSNE, DBSCAN, ...)::

    from sklearn.manifold import Isomap
    from sklearn.pipeline import make_pipeline
    from adanns.sklearn import ANNTransformer

    pipe = make_pipeline(ANNTransformer(n_neighbors=10), Isomap(n_neighbors=10, metric="precomputed"))
    emb = pipe.fit_transform(X)

This module imports scikit-learn; ``import adanns`` never does.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Optional, Tuple, Union

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .index import FlatIndex, IVFIndex
from .io import load_index

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(est: Any, X: Any, reset: bool = True, **kw: Any) -> np.ndarray:
        return est._validate_data(X, reset=reset, **kw)

__all__ = ["ANNTransformer"]

_METRICS = {"euclidean": "l2", "sqeuclidean": "l2", "cosine": "cosine"}


class ANNTransformer(TransformerMixin, BaseEstimator):
    """Approximate (or exact) k-nearest-neighbours graph with an adanns IVF index.

    Args:
        n_neighbors: neighbours per sample (``transform`` adds the sample itself in
            ``mode="distance"``, as :class:`~sklearn.neighbors.KNeighborsTransformer` does).
        mode: ``"distance"`` (edge weights are distances) or ``"connectivity"`` (ones).
        metric: ``"euclidean"``, ``"sqeuclidean"`` or ``"cosine"`` (distance ``1 - cos``).
        nlist: inverted lists of the index (default ``sqrt(n_samples)``; 1 means exact
            brute force with a :class:`adanns.FlatIndex`).
        nprobe: lists probed per query (default ``max(8, nlist // 8)``; ``nlist`` is exact).
        coarse_dim, scan_dim, rerank_k: the AdANNS prefix settings (see :class:`adanns.IVFIndex`).
        pca: store a PCA rotation in the index (``IVFIndex(transform="pca")``), so that short
            prefixes (``coarse_dim``, ``scan_dim``) work on embeddings that are not Matryoshka-trained.
        seed: seed of the k-means.

    Attributes (after ``fit``): ``index_`` (the adanns index), ``n_samples_fit_``,
    ``n_features_in_``.
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 5,
        mode: str = "distance",
        metric: str = "euclidean",
        nlist: Optional[int] = None,
        nprobe: Optional[int] = None,
        coarse_dim: Optional[int] = None,
        scan_dim: Optional[int] = None,
        rerank_k: int = 0,
        pca: bool = False,
        seed: int = 1234,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.mode = mode
        self.metric = metric
        self.nlist = nlist
        self.nprobe = nprobe
        self.coarse_dim = coarse_dim
        self.scan_dim = scan_dim
        self.rerank_k = rerank_k
        self.pca = pca
        self.seed = seed

    # ----------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any = None) -> "ANNTransformer":
        """Builds the index over the rows of ``X`` (n_samples, n_features)."""
        if self.mode not in ("distance", "connectivity"):
            raise ValueError(f"mode must be 'distance' or 'connectivity', got {self.mode!r}")
        if self.metric not in _METRICS:
            raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {self.metric!r}")
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        X = _validate_data(self, X, dtype=np.float32, order="C", ensure_min_samples=2)
        n, d = X.shape
        nlist = self.nlist if self.nlist is not None else max(1, int(np.sqrt(n)))
        if nlist < 1 or nlist > n:
            raise ValueError(f"nlist must be in 1..n_samples={n}, got {nlist}")
        metric = _METRICS[self.metric]
        index: Union[IVFIndex, FlatIndex]
        if nlist == 1 and not self.pca:
            index = FlatIndex(d, metric)
        else:
            index = IVFIndex(d, nlist, self.coarse_dim, metric, seed=self.seed, transform="pca" if self.pca else None)
            index.train(X)
        index.add(X)
        self.index_ = index
        self.n_samples_fit_ = n
        self.nlist_ = nlist
        return self

    def transform(self, X: Any) -> sparse.csr_matrix:  # type: ignore[override]
        """The k-nearest-neighbours graph of the rows of ``X`` against the fitted samples:
        (n_queries, n_samples_fit) CSR, ``n_neighbors + 1`` entries a row in distance mode."""
        check_is_fitted(self, "index_")
        add_one = self.mode == "distance"
        return self.kneighbors_graph(X, mode=self.mode, n_neighbors=self.n_neighbors + add_one)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> sparse.csr_matrix:
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)

    # ----------------------------------------------------------------- queries
    def _query(self, X: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        idx = self.index_
        nprobe = self.nprobe if self.nprobe is not None else min(self.nlist_, max(8, self.nlist_ // 8))
        kw = {}
        if isinstance(idx, IVFIndex):
            kw = dict(nprobe=min(int(nprobe), idx.nlist), scan_dim=self.scan_dim, rerank_k=self.rerank_k)
        D, I = idx.search(X, k, **kw)
        if self.metric == "euclidean":
            D = np.sqrt(np.maximum(D, 0.0))
        elif self.metric == "sqeuclidean":
            D = np.maximum(D, 0.0)
        else:
            D = np.maximum(1.0 - D, 0.0)
        return D, I

    def kneighbors(self, X: Any = None, n_neighbors: Optional[int] = None,
                   return_distance: bool = True) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """``(dist, ind)`` of the ``n_neighbors`` nearest fitted samples of each row of ``X``;
        with ``X=None`` the fitted samples themselves, each without itself (as scikit-learn does)."""
        check_is_fitted(self, "index_")
        k = self.n_neighbors if n_neighbors is None else int(n_neighbors)
        if k < 1:
            raise ValueError(f"n_neighbors must be >= 1, got {k}")
        if X is None:  # the fitted samples, each without itself
            if k + 1 > self.n_samples_fit_:
                raise ValueError(f"n_neighbors={k} must be smaller than the {self.n_samples_fit_} fitted samples")
            D, I = _drop_self(*self._query(self._fit_X(), k + 1), k)
        else:
            X = _validate_data(self, X, dtype=np.float32, order="C", reset=False)
            if k > self.n_samples_fit_:
                raise ValueError(f"n_neighbors={k} is larger than the {self.n_samples_fit_} fitted samples")
            D, I = self._query(X, k)
        return (D, I) if return_distance else I

    def _fit_X(self) -> np.ndarray:
        sizes, ids, vectors = self.index_._core.export_lists()
        out = np.empty_like(vectors)
        out[ids] = vectors
        t = self.index_.transform
        if t is not None:  # stored rotated: back to the original space
            out = (out.astype(np.float64) @ t.components_ + t.mean_).astype(np.float32)
        return out

    def kneighbors_graph(self, X: Any = None, n_neighbors: Optional[int] = None,
                         mode: str = "connectivity") -> sparse.csr_matrix:
        """The neighbours of :meth:`kneighbors` as a CSR matrix (n_queries, n_samples_fit)."""
        if mode not in ("distance", "connectivity"):
            raise ValueError(f"mode must be 'distance' or 'connectivity', got {mode!r}")
        D, I = self.kneighbors(X, n_neighbors, return_distance=True)
        nq, k = I.shape
        valid = I >= 0
        data = D[valid] if mode == "distance" else np.ones(int(valid.sum()))
        indptr = np.concatenate([[0], np.cumsum(valid.sum(1))])
        return sparse.csr_matrix((data.astype(np.float64), I[valid], indptr), shape=(nq, self.n_samples_fit_))

    # Pickling (joblib, clone of a fitted pipeline): the index travels as its saved file's bytes.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if "index_" in state:
            state["index_"] = _index_bytes(state["index_"])
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state.get("index_"), bytes):
            state = dict(state, index_=_index_from_bytes(state["index_"]))
        self.__dict__.update(state)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _index_bytes(index: Any) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "index.adanns")
        index.save(path)
        with open(path, "rb") as f:
            return f.read()


def _index_from_bytes(data: bytes) -> Any:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "index.adanns")
        with open(path, "wb") as f:
            f.write(data)
        return load_index(path)


def _drop_self(D: np.ndarray, I: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Removes each query's own index (query i is fitted sample i) and keeps k neighbours."""
    n = I.shape[0]
    own = I == np.arange(n)[:, None]
    # where a sample is not among its own results (duplicates / approximate), drop the last one
    missing = ~own.any(1)
    own[missing, -1] = True
    keep = ~own
    return D[keep].reshape(n, -1)[:, :k], I[keep].reshape(n, -1)[:, :k]
