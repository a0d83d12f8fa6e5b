"""IVFIndex(transform=...): the PCA rotation fitted in train, saved in the file, applied to added
vectors and queries; results equal to applying adanns.transforms.PCATransform by hand."""

import numpy as np
import pytest

import adanns
from adanns.transforms import PCATransform


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    d = 24
    # correlated, not Matryoshka-ordered: the energy is spread and rotated
    a = rng.standard_normal((d, d)) * np.linspace(3, 0.2, d)[:, None]
    xb = (rng.standard_normal((4_000, d)) @ a).astype(np.float32)
    xq = (rng.standard_normal((100, d)) @ a).astype(np.float32)
    return xb, xq


SETTINGS = [dict(nprobe=4, scan_dim=8, rerank_k=40), dict(nprobe=16), dict(nprobe=8, probe_dim=6, scan_dim=12)]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_stored_transform_equals_manual_pca_after_save_and_load(data, tmp_path, metric):
    xb, xq = data
    auto = adanns.IVFIndex(24, 16, coarse_dim=8, metric=metric, transform="pca")
    auto.train(xb)
    auto.add(xb)
    auto.save(tmp_path / "t")
    loaded = adanns.load(tmp_path / "t")
    assert loaded.transform is not None and loaded.transform.center == (metric == "l2")

    t = PCATransform.for_metric(metric).fit(xb)
    manual = adanns.IVFIndex(24, 16, coarse_dim=8, metric=metric)
    manual.train(t.apply(xb))
    manual.add(t.apply(xb))
    for s in SETTINGS:
        D0, I0 = manual.search(t.apply(xq), 10, **s)
        for idx in (auto, loaded):
            D1, I1 = idx.search(xq, 10, **s)
            np.testing.assert_array_equal(I0, I1)
            np.testing.assert_array_equal(D0, D1)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_transformed_full_search_keeps_the_metric(data, metric):
    """At exact settings the rotated index returns the original metric's neighbours."""
    xb, xq = data
    idx = adanns.IVFIndex(24, 8, metric=metric, transform="pca")
    idx.train(xb)
    idx.add(xb)
    D, I = idx.search(xq, 10, nprobe=8)
    flat = adanns.FlatIndex(24, metric)
    flat.add(xb)
    Df, If = flat.search(xq, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I.tolist(), If.tolist())]) > 0.99
    np.testing.assert_allclose(D, Df, rtol=1e-3, atol=1e-3 * float(np.abs(Df).max()))


def test_transform_helps_prefix_search(data):
    """The point of the transform: short prefixes work on non-Matryoshka data."""
    xb, xq = data
    flat = adanns.FlatIndex(24)
    flat.add(xb)
    gt = flat.search(xq, 10)[1]

    def recall(idx):
        I = idx.search(xq, 10, nprobe=16, scan_dim=6, rerank_k=40)[1]
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I.tolist(), gt.tolist())])

    plain = adanns.IVFIndex(24, 16)
    rot = adanns.IVFIndex(24, 16, transform="pca")
    for idx in (plain, rot):
        idx.train(xb)
        idx.add(xb)
    assert recall(rot) > recall(plain) + 0.05


def test_transform_with_filter_update_and_object(data):
    xb, xq = data
    idx = adanns.IVFIndex(24, 8, metric="ip", transform=PCATransform(center=False, seed=3))
    idx.train(xb)
    idx.add(xb)
    idx.update(xb[:10] * 2, np.arange(10))
    t = idx.transform
    manual = adanns.IVFIndex(24, 8, metric="ip")
    manual.train(t.apply(xb))
    manual.add(t.apply(xb))
    manual.update(t.apply(xb[:10] * 2), np.arange(10))
    allow = np.arange(0, 4000, 7)
    np.testing.assert_array_equal(idx.search(xq, 5, nprobe=8, filter=allow)[1],
                                  manual.search(t.apply(xq), 5, nprobe=8, filter=allow)[1])


def test_bad_transforms():
    with pytest.raises(ValueError):
        adanns.IVFIndex(8, 4, transform="opq")
    with pytest.raises(TypeError):
        adanns.IVFIndex(8, 4, transform=3)
    with pytest.raises(ValueError, match="centred"):
        adanns.IVFIndex(8, 4, metric="ip", transform=PCATransform(center=True))
    with pytest.raises(ValueError, match="all 8 dims"):
        adanns.IVFIndex(8, 4, transform=PCATransform(4))


def test_corrupted_transform_section_is_a_format_error(data, tmp_path):
    from adanns._format import write_index_file

    xb, _ = data
    idx = adanns.IVFIndex(24, 4, transform="pca")
    idx.train(xb)
    idx.add(xb[:100])
    header, sections = idx._to_sections()
    bad = [(n, dt, sh, [p[0] * 2 if n == "transform_components" else p[0]]) for n, dt, sh, p in sections]
    write_index_file(tmp_path / "bad", header, bad)
    with pytest.raises(adanns.FormatError, match="orthogonal"):
        adanns.load(tmp_path / "bad")


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("kind", ["ivfpq", "pq", "graph"])
def test_pq_and_graph_transform_equals_manual_pca(data, tmp_path, metric, kind):
    """The same stored transform on IVF-PQ / PQ (fitted by train) and graph indices (fitted on the
    first add): results equal applying PCATransform by hand, also after save / load."""
    xb, xq = data
    t = PCATransform.for_metric(metric).fit(xb)

    def make(**kw):
        if kind == "ivfpq":
            return adanns.IVFPQIndex(24, 8, coarse_dim=8, pq_dim=12, m=4, metric=metric, pq_niter=4, **kw)
        if kind == "pq":
            return adanns.PQIndex(24, pq_dim=12, m=4, metric=metric, pq_niter=4, **kw)
        return adanns.GraphIndex(24, 12, degree=12, metric=metric, build_beam=32, **kw)

    auto, manual = make(transform="pca"), make()
    if kind != "graph":
        auto.train(xb)
        manual.train(t.apply(xb))
    auto.add(xb)
    manual.add(t.apply(xb))
    auto.save(tmp_path / "t")
    loaded = adanns.load(tmp_path / "t")
    assert loaded.transform is not None and loaded.transform.is_fitted
    np.testing.assert_allclose(loaded.transform.to_dict()["components"], t.to_dict()["components"], atol=1e-5)
    settings = dict(beam=64, rerank_k=30) if kind == "graph" else dict(nprobe=4 if kind == "ivfpq" else 1, rerank_k=30)
    D0, I0 = manual.search(t.apply(xq), 10, **settings)
    for idx in (auto, loaded):
        D1, I1 = idx.search(xq, 10, **settings)
        np.testing.assert_array_equal(I0, I1)
        np.testing.assert_allclose(D0, D1, rtol=1e-5, atol=1e-5)
