"""The LICENSE ships with the package: in the installed wheel's metadata and in the sdist."""

import importlib.metadata as md
import pathlib
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_license_file_in_repository_and_installed_metadata():
    assert (ROOT / "LICENSE").read_text().strip().startswith("MIT License")
    dist = md.distribution("adanns")
    assert dist.metadata.get("License-Expression") == "MIT"
    names = [str(f) for f in (dist.files or [])]
    assert any(n.endswith("licenses/LICENSE") for n in names), names[:20]


def test_license_file_in_sdist(tmp_path):
    pytest.importorskip("build")  # the PyPA builder; optional
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
                          cwd=tmp_path, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"sdist build unavailable here: {proc.stderr[-300:]}")
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        assert any(n.endswith("/LICENSE") and n.count("/") == 1 for n in tar.getnames())
