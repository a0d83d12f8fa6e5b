"""The stored transform of an index (``transform=``, e.g. ``"pca"``): the mixin every index family
shares, and its file codec (header field and sections)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ._format import FormatError, all_finite, get_int
from ._limits import field
from ._validation import check_values, max_abs_value
from .transforms import PCATransform


class Transformed:
    """The stored transform of an index (``transform=``; IVF, Flat, IVF-PQ, PQ and graph indices
    share it): applied to added vectors and queries once fitted; saved in the header
    (:func:`transform_header`) and the sections (:func:`transform_sections`)."""

    _transform: Optional[PCATransform] = None

    @property
    def transform(self) -> Optional[PCATransform]:
        """The stored transform applied to added vectors and queries (None: none)."""
        return self._transform

    def _apply_transform(self, x: np.ndarray) -> np.ndarray:
        t = self._transform
        if t is None or not t.is_fitted:
            return x
        y = np.ascontiguousarray(t.apply(x), dtype=np.float32)
        if y.size:
            check_values(y, "the input after the index's transform")  # what is stored obeys the bound
        return y

    def _fit_transform(self, x: np.ndarray) -> np.ndarray:
        """Fits the transform (if any) on ``x`` and returns ``x`` transformed."""
        if self._transform is None:
            return x
        self._transform.fit(x)
        return self._transform.apply(x)


def make_transform(transform: Union[None, str, PCATransform], dim: int, metric: str) -> Optional[PCATransform]:
    """The index's transform from the ``transform=`` argument (checked against dim and metric)."""
    if transform is None:
        return None
    if isinstance(transform, str):
        if transform != "pca":
            raise ValueError(f"transform must be None, 'pca' or a PCATransform, got {transform!r}")
        return PCATransform.for_metric(metric)
    if not isinstance(transform, PCATransform):
        raise TypeError(f"transform must be None, 'pca' or a PCATransform, got {type(transform).__name__}")
    if transform.n_components is not None and transform.n_components != dim:
        raise ValueError(f"the index's transform must keep all {dim} dims (n_components=None); "
                         f"got n_components={transform.n_components}")
    if transform.center and metric != "l2":
        raise ValueError(f"a centred PCA changes {metric} scores; use center=False (a rotation) for {metric!r}")
    if transform.is_fitted and transform.dim_in != dim:
        raise ValueError(f"the transform was fitted on {transform.dim_in} dims, the index has {dim}")
    return transform


def transform_header(t: Optional[PCATransform]) -> Optional[Dict[str, Any]]:
    if t is None:
        return None
    return {"kind": "pca", "center": t.center, "sample": t.sample, "seed": t.seed, "fitted": t.is_fitted}


def transform_sections(t: Optional[PCATransform]) -> List[Tuple[str, np.ndarray]]:
    """The fitted transform's arrays (float32: exactly what ``PCATransform.apply`` computes with)."""
    if t is None or not t.is_fitted:
        return []
    d = t.to_dict()
    return [("transform_components", np.asarray(d["components"], np.float32)),
            ("transform_mean", np.asarray(d["mean"], np.float32)),
            ("transform_energy", np.asarray(d["explained_variance"], np.float32))]


def transform_from_file(h: Any, s: Dict[str, np.ndarray], dim: int, metric: str) -> Optional[PCATransform]:
    if h is None:
        return None
    if not isinstance(h, dict) or h.get("kind") != "pca" or not isinstance(h.get("center"), bool):
        raise FormatError("header field 'transform' is invalid")
    if h["center"] and metric != "l2":
        raise FormatError("a centred transform with a non-l2 metric")
    sample, seed = field(h, "sample"), get_int(h, "seed", 0, 2**64 - 1)
    if not h.get("fitted"):
        return PCATransform(None, center=h["center"], sample=sample, seed=seed)
    arrays = {}
    for name, shape in (("transform_components", (dim, dim)), ("transform_mean", (dim,)), ("transform_energy", (dim,))):
        a = s.get(name)
        if a is None or a.shape != shape or a.dtype != np.float32 or not np.isfinite(a).all() or \
                (name == "transform_mean" and not all_finite(a, max_abs_value(dim))):
            raise FormatError(f"section {name!r} is missing or invalid")
        arrays[name] = a
    comps = arrays["transform_components"].astype(np.float64)
    if np.abs(comps @ comps.T - np.eye(dim)).max() > 1e-3:
        raise FormatError("the stored transform is not orthogonal")
    return PCATransform.from_dict({"n_components": -1, "center": h["center"], "sample": sample, "seed": seed,
                                   "components": comps, "mean": arrays["transform_mean"].astype(np.float64),
                                   "explained_variance": arrays["transform_energy"].astype(np.float64)})
