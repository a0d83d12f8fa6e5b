"""Saving is durable on awkward paths and survives a writer killed mid-save (issue: reliability)."""

import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import adanns


def small_index(seed=0, n=400, dim=16):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    index = adanns.IVFIndex(dim=dim, nlist=4, metric="l2")
    index.train(x)
    index.add(x)
    return index


def test_saved_file_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        small_index().save(tmp_path / "a.adanns")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.adanns").st_mode) == 0o640


def test_save_through_symlink_writes_the_target(tmp_path):
    target = tmp_path / "real.adanns"
    link = tmp_path / "link.adanns"
    small_index(0).save(target)
    os.symlink(target, link)
    small_index(1, n=500).save(link)
    assert os.path.islink(link), "the link itself must survive"
    assert adanns.load(target).ntotal == 500


def test_save_refuses_non_regular_targets(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        small_index().save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(ValueError, match="not a regular file"):
        small_index().save(tmp_path)  # a directory


def test_load_of_a_fifo_raises_instead_of_hanging(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(adanns.FormatError, match="not a regular file"):
        adanns.load(fifo)


def test_long_valid_file_names_save(tmp_path):
    name = "x" * 250 + ".adn"  # 254 bytes: valid; a temporary name built from it would not be
    small_index().save(tmp_path / name)
    assert adanns.load(tmp_path / name).ntotal == 400


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"], cwd=tmp_path)
    dead.wait()
    stale = tmp_path / f".adanns-save.{dead.pid}.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    live = tmp_path / f".adanns-save.{os.getppid()}.abc123.tmp"  # a live process's: kept
    live.write_bytes(b"\0" * 10)
    small_index().save(tmp_path / "a.adanns")
    assert not stale.exists()
    assert live.exists()


# kill -9 during save (50 trials): tests/test_faults.py::test_kill_9_during_save_50_trials


def test_trained_state_of_an_untrained_index_raises():
    with pytest.raises(RuntimeError, match="trained"):
        adanns.IVFIndex(dim=8, nlist=4).centroids()
    pq = adanns.IVFPQIndex(dim=16, nlist=4, coarse_dim=8, pq_dim=16, m=4)
    for what in (pq.centroids, pq.codebooks, pq.anchors, pq.rotation):
        with pytest.raises(RuntimeError, match="trained"):
            what()
