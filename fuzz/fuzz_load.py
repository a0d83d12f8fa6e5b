"""Fuzz target for adanns.load (atheris / libFuzzer).

The only allowed outcomes for any input are: a loaded index that then searches without
crashing, or adanns.FormatError. Anything else (another exception, a crash, a sanitizer
report) is a bug.

The first byte of each input picks a mode:
  0 mod 4: the bytes are the file as is;
  1 mod 4: the same, loaded with checksum verification off, so that mutations reach the
           semantic checks that the CRCs would otherwise shield;
  2 mod 4: structure-aware: the rest of the input drives edits of the JSON header of a valid
           small index of any type (fields set to fuzzed ints, strings, lists, nulls; sections
           reordered), rewritten with a correct header checksum;
  3 mod 4: as 1, loaded with ``mmap=True`` where the type supports it (IVF-Flat, Flat), so the
           mapped-list path sees the mutated file.

    pip install atheris
    python fuzz/fuzz_load.py fuzz/corpus_work -max_total_time=60        # bounded run (CI)
    python fuzz/fuzz_load.py fuzz/corpus_work -max_total_time=3600      # a longer run
(copy fuzz/corpus to fuzz/corpus_work first: libFuzzer adds new inputs to the first folder)
"""

import os
import sys
import tempfile

import atheris
import numpy as np  # imported before instrumentation: only adanns is instrumented

import json

with atheris.instrument_imports():
    import adanns
    from adanns.io import _PREFIX, FormatError, _crc, load_index

_PATH = os.path.join(tempfile.mkdtemp(prefix="adanns-fuzz-"), "input.adanns")


def exercise(index) -> None:
    """Searches a loaded index with a few settings (and edits it where supported); must not crash."""
    n = index.ntotal
    if n == 0 or index.dim > 4096:
        return
    rng = np.random.default_rng(0)
    xq = rng.standard_normal((3, index.dim)).astype(np.float32)
    k = min(n, 5)
    ivf_like = isinstance(index, (adanns.IVFIndex, adanns.IVFPQIndex))
    nprobe = {"nprobe": min(2, index.nlist)} if ivf_like else {}
    index.search(xq, k, **nprobe)
    rerank_ok = getattr(index, "keep_full", "ram") is not None
    if isinstance(index, (adanns.IVFIndex, adanns.FlatIndex)):
        index.search(xq, k, scan_dim=max(1, index.dim // 2), rerank_k=min(n, 10), **nprobe)
        index.remove_ids(np.arange(2))
    elif rerank_ok:
        index.search(xq, k, rerank_k=min(n, 10), **nprobe)


def _valid_files():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    out = []
    ivf = adanns.IVFIndex(6, 4, coarse_dim=3, metric="cosine", niter=2)
    ivf.train(x)
    ivf.add(x)
    flat = adanns.FlatIndex(6, "ip")
    flat.add(x[:9])
    big = rng.standard_normal((300, 6)).astype(np.float32)
    pq = adanns.IVFPQIndex(6, 2, coarse_dim=3, pq_dim=4, m=2, opq=True, metric="l2", keep_full="ram", niter=2,
                           pq_niter=2, opq_niter=1)
    pq.train(big)
    pq.add(big[:20])
    opq = adanns.IVFPQIndex(6, 2, coarse_dim=3, pq_dim=4, m=2, opq=True, metric="cosine", keep_full="mmap",
                            niter=2, pq_niter=2, opq_niter=1)
    opq.train(big)
    opq.add(big[:20])
    flatpq = adanns.PQIndex(6, pq_dim=6, m=3, metric="ip", keep_full=None, pq_niter=2)
    flatpq.train(big)
    flatpq.add(big[:15])
    pca = adanns.IVFIndex(6, 2, metric="l2", niter=2, transform="pca")
    pca.train(x)
    pca.add(x[:10])
    graphs = []
    for store in ("float32", "int8"):
        g = adanns.GraphIndex(6, 3, degree=4, metric="ip", build_beam=8, store=store)
        g.add(x[:20])
        graphs.append(g)
    for index in (ivf, flat, pq, opq, flatpq, pca, *graphs):
        index.save(_PATH)
        out.append(open(_PATH, "rb").read())
    return out


_BASES = None
_FIELDS = ["type", "dim", "ntotal", "nlist", "coarse_dim", "metric", "niter", "seed", "kmeanspp",
           "max_points_per_centroid", "pq_dim", "m", "opq", "keep_full", "next_id", "max_train", "pq_niter",
           "graph_dim", "degree", "entry", "store", "alpha", "build_beam", "transform", "operating_points"]
_SECTION_FIELDS = ["name", "dtype", "shape", "offset", "nbytes", "crc32"]


def _fuzz_value(fdp):
    kind = fdp.ConsumeIntInRange(0, 6)
    if kind == 0:
        return fdp.ConsumeInt(8)
    if kind == 1:
        return fdp.ConsumeIntInRange(-2, 70)
    if kind == 2:
        return fdp.ConsumeUnicodeNoSurrogates(8)
    if kind == 3:
        return [fdp.ConsumeIntInRange(-1, 50) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind == 4:
        return None
    if kind == 5:
        return fdp.ConsumeFloat()
    return fdp.PickValueInList(["ivf", "flat", "pq", "ivfpq", "graph", "l2", "ip", "cosine", "float32", "int64",
                                "uint8", "uint32", "ids", "vectors", "full", "codes", "neighbors", "int8", "mmap",
                                "ram", "centroids", "quantizer", "rotation"])


def structured(data: bytes) -> bytes:
    global _BASES
    if _BASES is None:
        _BASES = _valid_files()
    fdp = atheris.FuzzedDataProvider(data)
    base = _BASES[fdp.ConsumeIntInRange(0, len(_BASES) - 1)]
    _, version, hlen, _, _ = _PREFIX.unpack_from(base, 0)
    header = json.loads(base[_PREFIX.size : _PREFIX.size + hlen])
    first = min(sec["offset"] for sec in header["sections"])
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        if fdp.ConsumeBool():
            header[fdp.PickValueInList(_FIELDS)] = _fuzz_value(fdp)
        elif header.get("sections"):
            sec = header["sections"][fdp.ConsumeIntInRange(0, len(header["sections"]) - 1)]
            sec[fdp.PickValueInList(_SECTION_FIELDS)] = _fuzz_value(fdp)
    if fdp.ConsumeBool() and header.get("sections"):
        header["sections"] = header["sections"][::-1]
    hb = json.dumps(header).encode()
    head = _PREFIX.pack(adanns.io.MAGIC, version, len(hb), _crc(hb), 0) + hb
    # keep the sections at their original offsets when the new header fits before them
    pad = b"\0" * max(0, first - len(head))
    return head + pad + base[max(first, len(head)) :]


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode = data[0] % 4
    payload = structured(data[1:]) if mode == 2 else data[1:]
    with open(_PATH, "wb") as f:
        f.write(payload)
    try:
        index = load_index(_PATH, _check_crc=(mode == 0), mmap=(mode == 3))
    except FormatError:
        return
    except ValueError as e:  # mmap=True of a type that is not mapped: a documented refusal
        if mode == 3 and "load(mmap=True) maps" in str(e):
            return
        raise
    try:
        exercise(index)
    except ValueError as e:
        # a valid (loadable) PCA transform can rotate the fuzzer's queries beyond the value bound:
        # refused with the documented message, not a crash
        if "after the index's transform" not in str(e):
            raise


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
