import subprocess
import sys

from adanns import cli


def test_main_job_on_small_synthetic(capsys):
    rc = cli.main(["--dataset", "synthetic:20000:32", "--n-query", "200", "--nlist", "64", "--repeat", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "recall@10" in out and "QPS" in out
    rows = [l.split() for l in out.splitlines() if l.strip() and l.split()[0].isdigit()]
    assert len(rows) == 5
    recalls = [float(r[3]) for r in rows]
    assert all(0 <= r <= 1 for r in recalls) and recalls[2] > 0.8


def test_cli_reports_errors_cleanly(capsys):
    assert cli.main(["--dataset", "/nonexistent/file.npy"]) == 2
    assert "error" in capsys.readouterr().err


def test_console_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "adanns", "--help"], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0 and "adanns" in r.stdout


import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.mark.parametrize("argv, flag", [
    (["--n-query", "-5"], "--n-query"), (["--n-query", "0"], "--n-query"), (["--nlist", "0"], "--nlist"),
    (["--repeat", "0"], "--repeat"), (["--coarse-dim", "0"], "--coarse-dim"),
])
def test_run_validates_numbers_before_any_work(argv, flag, capsys, monkeypatch):
    monkeypatch.setattr(cli.datasets, "load_dataset", lambda *a, **k: pytest.fail("data loaded before validation"))
    assert cli.main(["--dataset", "synthetic:2000:8"] + argv) == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize("argv, flag", [
    (["--n-query", "0"], "--n-query"), (["--nlist", "0"], "--nlist"), (["--max-base", "-1"], "--max-base"),
    (["--stop-recall", "1.5"], "--stop-recall"), (["--threads", "0"], "--threads"),
])
def test_bench_validates_numbers_before_any_work(argv, flag, capsys, monkeypatch):
    from adanns.bench import data

    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data loaded before validation"))
    assert cli.main(["bench", "--dataset", "synthetic:2000:8"] + argv) == 2
    assert flag in capsys.readouterr().err


def test_bench_unknown_method_reported_before_loading(capsys, monkeypatch):
    from adanns.bench import data

    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data loaded before the method check"))
    assert cli.main(["bench", "--methods", "adanns-ivf,faiss-ivflat"]) == 2
    err = capsys.readouterr().err
    assert "faiss-ivflat" in err and "faiss-ivfflat" in err  # names the bad one and the choices


def test_small_file_clamps_nprobe_and_explains(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
    np.save(tmp_path / "small.npy", x)
    rc = cli.main(["--dataset", str(tmp_path / "small.npy"), "--n-query", "50", "--repeat", "1", "--nlist", "16"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = [l.split() for l in out.splitlines() if l.strip() and l.split()[0].isdigit()]
    assert rows and all(int(r[0]) <= 16 for r in rows)  # nprobe 32 / 64 clamped to nlist=16
    assert "fraction of the true 10 nearest" in out and "all cores" in out
    assert "given by --dataset" in out and "PCA" in out  # a file is not Matryoshka: PCA ordering used


def test_default_dataset_says_why(monkeypatch):
    monkeypatch.setattr(cli.datasets, "have_glove50", lambda: False)
    monkeypatch.setattr(cli.datasets, "make_synthetic", lambda n, q, d, metric: (n, q, d, metric))
    ds, why = cli._default_dataset(True)
    assert ds == (50_000, 1_000, 128, "l2") and "GloVe-50 is not installed" in why


@pytest.mark.parametrize("content, what", [(b"not an npy file", "not a readable .npy"), (None, "no such file")])
def test_file_errors_name_the_file(tmp_path, capsys, content, what):
    path = tmp_path / "bad.npy"
    if content is not None:
        path.write_bytes(content)
    assert cli.main(["--dataset", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and what in err


def test_tune_cli_validates_and_names_bad_index_file(tmp_path, capsys):
    (tmp_path / "i.adanns").write_bytes(b"garbage")
    np.save(tmp_path / "q.npy", np.zeros((3, 4), np.float32))
    assert cli.main(["tune", str(tmp_path / "i.adanns"), str(tmp_path / "q.npy"), "--k", "0"]) == 2
    assert "--k" in capsys.readouterr().err
    assert cli.main(["tune", str(tmp_path / "i.adanns"), str(tmp_path / "q.npy")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "i.adanns") in err and "too short" in err


def test_bench_warns_when_the_plot_is_skipped(tmp_path, capsys, monkeypatch):
    from adanns.bench import cli as bench_cli

    monkeypatch.setattr(bench_cli, "plot", lambda report, path: "matplotlib not installed (test)")
    argv = ["bench", "--dataset", "synthetic:1500:8", "--n-query", "30", "--methods", "adanns-ivf", "--quick",
            "--nprobes", "1,4", "--n-single", "2", "--nlist", "8", "--coarse-dims", "8", "--scan-dims", "4",
            "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "r.json")]
    assert cli.main(argv) == 0
    assert "warning: plot skipped: matplotlib not installed (test)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- build / search / info
from adanns.datasets import synthetic_matryoshka  # noqa: E402
from reference import brute_force  # noqa: E402


@pytest.fixture()
def vectors(tmp_path):
    x = synthetic_matryoshka(3_000, 24, n_clusters=20, seed=2)
    np.save(tmp_path / "xb.npy", x[100:])
    np.save(tmp_path / "xq.npy", x[:100])
    return x[100:], x[:100]


@pytest.mark.parametrize("extra", [[], ["--pca", "--metric", "cosine"], ["--type", "flat"],
                                   ["--type", "ivfpq", "--m", "4", "--keep-full"]])
def test_build_search_info_round_trip(tmp_path, vectors, capsys, extra):
    xb, xq = vectors
    out = tmp_path / "i.adanns"
    assert cli.main(["build", str(tmp_path / "xb.npy"), str(out), "--nlist", "16", "--quiet"] + extra) == 0
    assert "saved to" in capsys.readouterr().out
    metric = extra[extra.index("--metric") + 1] if "--metric" in extra else "l2"
    exact = ["--nprobe", "16"] if "--type" not in extra else []
    if "ivfpq" in extra:
        exact += ["--rerank-k", str(xb.shape[0])]
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy"), "--k", "5", "--out", str(tmp_path / "I.npy"),
                     "--distances", str(tmp_path / "D.npy")] + exact) == 0
    capsys.readouterr()
    I = np.load(tmp_path / "I.npy")
    Ir = brute_force(xb, xq, 5, metric)[1]
    assert I.shape == (100, 5) and np.mean(I == Ir) > 0.99
    # stdout form, filtered
    np.save(tmp_path / "allow.npy", np.arange(0, xb.shape[0], 10))
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy"), "--k", "3", "--filter",
                     str(tmp_path / "allow.npy")] + exact) == 0
    rows = [list(map(int, l.split())) for l in capsys.readouterr().out.splitlines()]
    assert len(rows) == 100 and all(len(r) == 3 and all(v % 10 == 0 for v in r) for r in rows)
    assert cli.main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "checksums  ok" in text and "load       ok" in text and ("vectors" in text or "codes" in text)


def test_search_mmap_and_info_detects_corruption(tmp_path, vectors, capsys):
    out = tmp_path / "i.adanns"
    assert cli.main(["build", str(tmp_path / "xb.npy"), str(out), "--nlist", "8", "--quiet"]) == 0
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy"), "--mmap", "--out", str(tmp_path / "a.npy")]) == 0
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy"), "--out", str(tmp_path / "b.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    capsys.readouterr()
    data = bytearray(out.read_bytes())
    data[-100] ^= 0xFF
    out.write_bytes(bytes(data))
    assert cli.main(["info", str(out)]) == 1
    assert "checksums  FAILED" in capsys.readouterr().out
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy")]) == 2
    assert cli.main(["build", str(tmp_path / "missing.npy"), str(out)]) == 2
    assert cli.main(["search", str(out), str(tmp_path / "xq.npy"), "--k", "0"]) == 2
