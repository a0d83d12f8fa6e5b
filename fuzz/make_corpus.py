"""Regenerates the seed corpus in fuzz/corpus: small valid index files of every kind,
each prefixed with the fuzzer's mode byte (0: verify checksums, 1: do not)."""

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
    with tempfile.TemporaryDirectory() as tmp:
        for name, index in made.items():
            p = os.path.join(tmp, name)
            index.save(p)
            data = open(p, "rb").read()
            for mode in (0, 1):
                with open(os.path.join(HERE, f"{name}_{mode}.bin"), "wb") as f:
                    f.write(bytes([mode]) + data)


if __name__ == "__main__":
    main()
