"""Integers outside the core's C range and malformed tune spaces: a ValueError / TypeError that
names the argument, never a pybind11 signature dump or an AttributeError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adanns

HUGE = st.one_of(st.integers(min_value=2**64, max_value=2**80), st.integers(max_value=-(2**63), min_value=-(2**80)))

CONSTRUCTORS = {
    "ivf": lambda **kw: adanns.IVFIndex(**{"dim": 8, "nlist": 4, **kw}),
    "flat": lambda **kw: adanns.FlatIndex(**{"dim": 8, **kw}),
    "ivfpq": lambda **kw: adanns.IVFPQIndex(**{"dim": 8, "nlist": 4, "m": 2, **kw}),
    "pq": lambda **kw: adanns.PQIndex(**{"dim": 8, "m": 2, **kw}),
    "graph": lambda **kw: adanns.GraphIndex(**{"dim": 8, **kw}),
}
ARGS = {
    "ivf": ["dim", "nlist", "niter", "seed", "max_points_per_centroid", "coarse_dim"],
    "flat": ["dim"],
    "ivfpq": ["dim", "nlist", "niter", "pq_niter", "seed", "max_points_per_centroid", "max_train", "m"],
    "pq": ["dim", "pq_niter", "opq_niter", "seed", "max_train", "m"],
    "graph": ["dim", "degree", "build_beam", "seed", "graph_dim"],
}


def _assert_names(err: BaseException, name: str) -> None:
    msg = str(err)
    assert name in msg, msg
    assert "incompatible" not in msg and "supported" not in msg, msg


@pytest.mark.parametrize("family,arg", [(f, a) for f, args in ARGS.items() for a in args])
@settings(max_examples=5, deadline=None)
@given(v=HUGE)
def test_out_of_range_constructor_ints(family, arg, v):
    with pytest.raises(ValueError) as e:
        CONSTRUCTORS[family](**{arg: v})
    _assert_names(e.value, arg)


@pytest.mark.parametrize("family,arg", [("ivf", "niter"), ("ivfpq", "niter"), ("ivfpq", "pq_niter"),
                                        ("pq", "pq_niter"), ("pq", "opq_niter")])
def test_iteration_counts_beyond_c_int(family, arg):
    # 2**31 fits int64 but not the core's C int: refused at construction, not at train()
    with pytest.raises(ValueError) as e:
        CONSTRUCTORS[family](**{arg: 2**31})
    _assert_names(e.value, arg)


@pytest.fixture(scope="module")
def indexes():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((600, 8), dtype=np.float32)
    out = {}
    for name, make in CONSTRUCTORS.items():
        ix = make() if name != "ivfpq" else make(keep_full="ram")
        if name not in ("flat", "graph"):
            ix.train(xb)
        ix.add(xb)
        out[name] = ix
    return out, xb[:4]


@pytest.mark.parametrize("family", list(CONSTRUCTORS))
@pytest.mark.parametrize("arg", ["k", "nprobe", "rerank_k", "beam"])
@pytest.mark.parametrize("v", [2**64, 2**63, -(2**63) - 1])
def test_out_of_range_search_ints(indexes, family, arg, v):
    idx, xq = indexes
    ix = idx[family]
    if arg == "beam" and family != "graph" or arg == "nprobe" and family == "graph":
        pytest.skip("not a setting of this family")
    kw = {"k": 3, arg: v}
    with pytest.raises(ValueError) as e:
        ix.search(xq, **kw)
    _assert_names(e.value, arg)


@pytest.mark.parametrize(
    "space,exc,name",
    [
        ([("nprobe", [1, 2])], TypeError, "space"),
        ({"nprobe": "12"}, TypeError, "nprobe"),
        ({"nprobe": 3}, TypeError, "nprobe"),
        ({"nprobe": ["a"]}, TypeError, "nprobe"),
        ({"nprobe": [1.5]}, TypeError, "nprobe"),
        ({"nprobe": [2**64]}, ValueError, "nprobe"),
        ({"nprobe": [-1]}, ValueError, "nprobe"),
        ({"nprobe": []}, ValueError, "nprobe"),
        ({"bogus": [1]}, ValueError, "bogus"),
        ({"nprobe": [10**6]}, ValueError, "nprobe"),
    ],
)
def test_bad_tune_spaces(indexes, space, exc, name):
    idx, xq = indexes
    with pytest.raises(exc) as e:
        idx["ivf"].tune(xq, k=3, space=space, measure_qps=False)
    _assert_names(e.value, name)
