"""Regenerates the seed corpus in fuzz/corpus: small valid index files of every kind,
each prefixed with the fuzzer's mode byte (0: verify checksums, 1: do not, 3: do not and load
with mmap=True; see fuzz_load.py)."""

import os
import tempfile

import numpy as np

import adanns

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    made = {}
    for metric in ("l2", "ip", "cosine"):
        ivf = adanns.IVFIndex(6, 4, coarse_dim=3, metric=metric, niter=2)
        ivf.train(x)
        ivf.add(x, ids=np.arange(40) * 5)
        made[f"ivf_{metric}"] = ivf
    flat = adanns.FlatIndex(6, "l2")
    flat.add(x[:10])
    made["flat"] = flat
    empty = adanns.IVFIndex(6, 2)
    empty.train(x)
    made["ivf_empty"] = empty
    big = rng.standard_normal((300, 6)).astype(np.float32)
    for name, keep in (("ivfpq_opq", "ram"), ("ivfpq_nofull", None)):
        pq = adanns.IVFPQIndex(6, 2, coarse_dim=3, pq_dim=4, m=2, opq=name.endswith("opq"), metric="cosine",
                               keep_full=keep, niter=2, pq_niter=2, opq_niter=1)
        pq.train(big)
        pq.add(big[:20])
        made[name] = pq
    pqmap = adanns.IVFPQIndex(6, 2, coarse_dim=3, pq_dim=6, m=3, metric="l2", keep_full="mmap", niter=2, pq_niter=2)
    pqmap.train(big)
    pqmap.add(big[:25], ids=np.arange(25) * 7)
    made["ivfpq_mmap"] = pqmap
    pqopq = adanns.PQIndex(6, pq_dim=4, m=2, opq=True, metric="l2", keep_full="mmap", pq_niter=2, opq_niter=1)
    pqopq.train(big)
    pqopq.add(big[:12])
    made["pq_opq_mmap"] = pqopq
    for metric in ("l2", "cosine"):
        pca = adanns.IVFIndex(6, 2, metric=metric, niter=2, transform="pca")
        pca.train(x)
        pca.add(x[:12])
        made[f"ivf_pca_{metric}"] = pca
    x12 = np.random.default_rng(1).standard_normal((40, 12)).astype(np.float32)
    for metric, xs in (("ip", x12), ("cosine", x)):  # the int8 scan copy: 8 wide + 4 narrow dims; 6 wide
        i8 = adanns.IVFIndex(xs.shape[1], 3, coarse_dim=4, metric=metric, niter=2, scan_store="int8")
        i8.train(xs)
        i8.add(xs)
        made[f"ivf_int8_{metric}"] = i8
    untrained = adanns.IVFPQIndex(6, 2, pq_dim=4, m=2, opq=True)
    made["ivfpq_untrained"] = untrained
    flatpq = adanns.PQIndex(6, pq_dim=6, m=3, metric="ip", keep_full="ram", pq_niter=2)
    flatpq.train(big)
    flatpq.add(big[:15])
    made["pq_ip"] = flatpq
    for metric, store in (("l2", "float32"), ("cosine", "float32"), ("ip", "int8"), ("l2", "int8")):
        graph = adanns.GraphIndex(6, 3, degree=4, metric=metric, build_beam=8, store=store)
        graph.add(x, ids=np.arange(40) * 3)
        graph.remove_ids([0, 3])  # saved consolidated
        # int8 files carry sq_wide since the leading dims got 16-bit codes; the graph_*_int8_*.bin
        # seeds without it are kept as files of the earlier layout (converted on load)
        made[f"graph_{metric}_{store}" + ("_wide" if store == "int8" else "")] = graph
    mixed = adanns.GraphIndex(12, 10, degree=4, metric="ip", build_beam=8, store="int8")  # 8 wide + 2 narrow dims
    mixed.add(x12)
    made["graph_ip_int8_mixed"] = mixed
    with tempfile.TemporaryDirectory() as tmp:
        for name, index in made.items():
            p = os.path.join(tmp, name)
            index.save(p)
            data = open(p, "rb").read()
            modes = (0, 1, 3) if index.__class__.__name__ in ("IVFIndex", "FlatIndex") else (0, 1)
            for mode in modes:
                with open(os.path.join(HERE, f"{name}_{mode}.bin"), "wb") as f:
                    f.write(bytes([mode]) + data)


if __name__ == "__main__":
    main()
