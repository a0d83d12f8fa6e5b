"""adanns.sklearn.ANNTransformer: scikit-learn conventions, estimator checks, a Pipeline."""

import subprocess
import sys

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.manifold import Isomap  # noqa: E402
from sklearn.neighbors import KNeighborsTransformer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from adanns.datasets import synthetic_matryoshka  # noqa: E402
from adanns.sklearn import ANNTransformer  # noqa: E402


@pytest.fixture(scope="module")
def X():
    return synthetic_matryoshka(1_500, 16, n_clusters=10, seed=8).astype(np.float64)


def same_graph(a, b, tol=1e-4):
    a, b = a.tocsr(), b.tocsr()
    assert a.shape == b.shape
    for i in range(a.shape[0]):
        ia, ib = a.indices[a.indptr[i]:a.indptr[i + 1]], b.indices[b.indptr[i]:b.indptr[i + 1]]
        assert set(ia.tolist()) == set(ib.tolist()), i
    np.testing.assert_allclose(np.sort(a.data), np.sort(b.data), rtol=tol, atol=tol)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_exact_settings_equal_kneighbors_transformer(X, metric, mode):
    ours = ANNTransformer(n_neighbors=7, mode=mode, metric=metric, nlist=16, nprobe=16)
    ref = KNeighborsTransformer(n_neighbors=7, mode=mode, metric=metric, algorithm="brute")
    same_graph(ours.fit_transform(X), ref.fit_transform(X))
    q = X[:50] + 0.01
    same_graph(ours.transform(q), ref.transform(q))
    d0, i0 = ours.kneighbors(n_neighbors=4)  # fitted samples, each without itself
    d1, i1 = ref.kneighbors(n_neighbors=4)
    np.testing.assert_array_equal(i0, i1)
    np.testing.assert_allclose(d0, d1, rtol=1e-4, atol=1e-4)


def test_flat_and_transformed_variants(X):
    ref = KNeighborsTransformer(n_neighbors=5, algorithm="brute").fit(X)
    for est in (ANNTransformer(nlist=1), ANNTransformer(nlist=8, nprobe=8, pca=True)):
        d, i = est.fit(X).kneighbors(X[:30])
        d0, i0 = ref.kneighbors(X[:30])
        np.testing.assert_array_equal(i, i0)
        np.testing.assert_allclose(d, d0, rtol=1e-3, atol=1e-3)


def test_approximate_default_recall(X):
    ref = KNeighborsTransformer(n_neighbors=10, algorithm="brute").fit(X)
    i0 = ref.kneighbors(X[:200], return_distance=False)
    i = ANNTransformer(n_neighbors=10).fit(X).kneighbors(X[:200], return_distance=False)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(i.tolist(), i0.tolist())]) >= 0.9


def test_isomap_pipeline_with_precomputed_graph():
    """The scikit-learn approximate-nearest-neighbours example: Isomap on a precomputed graph."""
    from sklearn.datasets import make_s_curve

    X = make_s_curve(1_500, random_state=0)[0]
    n = 10
    ours = make_pipeline(ANNTransformer(n_neighbors=n, nlist=16, nprobe=16), Isomap(n_neighbors=n, metric="precomputed"))
    ref = make_pipeline(KNeighborsTransformer(n_neighbors=n, mode="distance", algorithm="brute"),
                        Isomap(n_neighbors=n, metric="precomputed"))
    e0, e1 = ours.fit_transform(X), ref.fit_transform(X)
    assert e0.shape == (X.shape[0], 2)
    # the same graph up to float32 rounding: the same embedding up to the sign of each axis
    for c in range(2):
        s = np.sign(e0[:, c] @ e1[:, c])
        np.testing.assert_allclose(s * e0[:, c], e1[:, c], rtol=1e-2, atol=1e-2 * np.abs(e1[:, c]).max())


def test_tsne_pipeline_runs(X):
    from sklearn.manifold import TSNE

    # TSNE wants 3 * perplexity + 1 neighbours besides the sample itself (the example's rule)
    pipe = make_pipeline(ANNTransformer(n_neighbors=32), TSNE(metric="precomputed", init="random", perplexity=10,
                                                              max_iter=250, random_state=0))
    emb = pipe.fit_transform(X[:300])
    assert emb.shape == (300, 2) and np.isfinite(emb).all()


def test_bad_parameters(X):
    with pytest.raises(ValueError):
        ANNTransformer(metric="manhattan").fit(X)
    with pytest.raises(ValueError):
        ANNTransformer(mode="weights").fit(X)
    with pytest.raises(ValueError):
        ANNTransformer(nlist=10**6).fit(X)


def test_pickle_round_trip(X):
    import pickle

    est = ANNTransformer(n_neighbors=4, pca=True).fit(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.kneighbors(X[:20])[1], again.kneighbors(X[:20])[1])


def test_import_adanns_does_not_import_sklearn(tmp_path):
    code = "import sys, adanns; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)  # not the source folder


@parametrize_with_checks([ANNTransformer(n_neighbors=3, nlist=1), ANNTransformer(n_neighbors=3)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
