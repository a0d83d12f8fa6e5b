"""OPQ rotation learning (Ge et al., OPQ-NP) for the PQ indices: numpy SVD around the C++
PQ trainer and encoder."""

from __future__ import annotations

import numpy as np

from . import _core


def _random_rotation(p: int, seed: int) -> np.ndarray:
    """A seeded random orthogonal p x p matrix (QR of a Gaussian matrix, signs fixed)."""
    g = np.random.default_rng(seed).standard_normal((p, p))
    q, r = np.linalg.qr(g)
    q *= np.sign(np.diag(r))[None, :] + (np.diag(r) == 0)
    return q


def train_opq(res: np.ndarray, m: int, rng: np.random.Generator, niter: int, seed: int) -> np.ndarray:
    """Alternating optimisation (Ge et al., OPQ-NP): PQ codebooks for the rotated residuals,
    then the orthogonal Procrustes rotation that best maps the residuals onto their
    reconstructions. Returns R (p x p, float64) with codes = PQ(R r)."""
    p = res.shape[1]
    R = _random_rotation(p, int(rng.integers(2**62)))
    x64 = res.astype(np.float64)
    inner_iter = 4
    for it in range(niter):
        xr = np.ascontiguousarray((x64 @ R.T).astype(np.float32))
        cb = _core.pq_train(xr, m, inner_iter, seed + 7919 * (it + 1), 256)
        rec = _core.pq_decode(_core.pq_encode(xr, cb), cb).astype(np.float64)
        # min_R || x R^T - rec ||_F over orthogonal R:  x^T rec = U S V^T,  R^T = U V^T
        u, _, vt = np.linalg.svd(x64.T @ rec)
        R = (u @ vt).T
    return R
