"""PCATransform: a rotation that orders the axes by decreasing energy."""

import numpy as np
import pytest

from adanns.transforms import PCATransform


def _anisotropic(n=2000, d=12, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(0.2, 3.0, d)  # increasing: the largest variance is in the LAST axis
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return ((rng.standard_normal((n, d)) * scales) @ q.T + 0.5).astype(np.float32)


def test_rotation_preserves_inner_products_and_orders_energy():
    x = _anisotropic()
    t = PCATransform().fit(x)
    y = t.apply(x)
    assert y.dtype == np.float32 and y.shape == x.shape and y.flags.c_contiguous
    np.testing.assert_allclose(y[:50] @ y[50:100].T, x[:50] @ x[50:100].T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-5)
    energy = (y.astype(np.float64) ** 2).mean(axis=0)
    assert np.all(np.diff(energy) <= 1e-6 * energy[0])
    np.testing.assert_allclose(t.components_ @ t.components_.T, np.eye(x.shape[1]), atol=1e-10)
    frac = t.energy_fraction()
    assert frac[-1] == pytest.approx(1.0) and np.all(np.diff(frac) >= 0)
    assert not t.center and np.all(t.mean_ == 0)


def test_centered_pca_preserves_l2_and_uses_covariance():
    x = _anisotropic(seed=1)
    t = PCATransform.for_metric("l2").fit(x)
    assert t.center
    y = t.apply(x)
    d_x = ((x[:20, None, :] - x[None, 20:40, :]) ** 2).sum(-1)
    d_y = ((y[:20, None, :] - y[None, 20:40, :]) ** 2).sum(-1)
    np.testing.assert_allclose(d_y, d_x, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-3)
    var = y.var(axis=0)
    assert np.all(np.diff(var) <= 1e-6 * var[0])
    assert not PCATransform.for_metric("cosine").center and not PCATransform.for_metric("ip").center


def test_truncation_sampling_and_determinism():
    x = _anisotropic(n=3000, d=10)
    a = PCATransform(4, sample=1000, seed=3).fit(x)
    b = PCATransform(4, sample=1000, seed=3).fit(x)
    assert a.apply(x).shape == (3000, 4)
    np.testing.assert_array_equal(a.components_, b.components_)


def test_persistence_roundtrip(tmp_path):
    x = _anisotropic(seed=2)
    t = PCATransform(6, center=True).fit(x)
    u = PCATransform.from_dict(t.to_dict())
    np.testing.assert_array_equal(u.apply(x), t.apply(x))
    t.save(str(tmp_path / "pca.npz"))
    v = PCATransform.load(str(tmp_path / "pca.npz"))
    np.testing.assert_array_equal(v.apply(x), t.apply(x))
    assert (v.n_components, v.center, v.dim_in, v.dim_out) == (6, True, x.shape[1], 6)


def test_errors():
    t = PCATransform()
    with pytest.raises(RuntimeError):
        t.apply(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError):
        PCATransform(5).fit(np.ones((10, 3)))
    with pytest.raises(ValueError):
        PCATransform().fit(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        PCATransform().fit(np.array([[1.0, np.nan]]))
    t.fit(np.random.default_rng(0).standard_normal((20, 3)))
    with pytest.raises(ValueError):
        t.apply(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError):
        PCATransform(0)
