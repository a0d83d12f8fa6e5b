"""Every ``python`` block of README.md and docs/*.md runs as written, so the docs cannot rot.

The blocks of one file run in order in one namespace (as a reader follows them), in a temporary
working directory. Sizes are scaled down by SCALE (literal replacements, listed below) unless
``ADANNS_DOCS_FULL=1``, which runs the blocks exactly as written. ``bash`` blocks are not run
(they build wheels and run half-hour benchmarks); their ``adanns`` commands must parse and the
scripts they name must exist.
"""

import os
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

import adanns
import adanns.gpu

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FULL = os.environ.get("ADANNS_DOCS_FULL") == "1"
# written size -> tested size (the only edits made to a block before it runs)
SCALE = {"100_000": "2_000", "2_000": "300", "1_000": "100", "nlist=1024": "nlist=32"}
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, lang: str):
    return [body for kind, body in _BLOCK.findall(path.read_text()) if kind == lang]


def scaled(code: str) -> str:
    if FULL:
        return code
    for written, tested in SCALE.items():
        code = code.replace(written, tested)
    return code


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{path.stem}"}
    for i, code in enumerate(blocks(path, "python")):
        uses_ray = "ray.init" in code or re.search(r"^\s*import\b[^\n]*\bray\b", code, re.M)
        if uses_ray and importlib.util.find_spec("ray") is None:
            continue  # the optional extra is not installed (CI installs it)
        if "adanns.gpu" in code and not adanns.gpu.is_available():
            continue  # needs a CUDA build and a GPU (tests/test_gpu.py says so when skipped)
        try:
            exec(compile(scaled(code), f"{path.name}[block {i + 1}]", "exec"), namespace)
        except Exception as e:  # the block and its error, not only a traceback into exec
            pytest.fail(f"{path.name}, python block {i + 1} fails: {type(e).__name__}: {e}\n{code}")


def test_blocks_are_found():
    assert len(blocks(ROOT / "README.md", "python")) >= 3
    assert blocks(ROOT / "docs" / "pq.md", "python") and blocks(ROOT / "docs" / "tuning.md", "python")


@pytest.mark.parametrize("path", [p for p in FILES if blocks(p, "bash")], ids=lambda p: p.name)
def test_bash_blocks_name_real_commands(path):
    from adanns import cli
    from adanns.bench.cli import build_parser as bench_parser

    for body in blocks(path, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            for cmd in filter(None, (c.strip() for c in re.split(r"&&|;", line))):
                words = shlex.split(cmd)
                if words[0] == "adanns" and words[1:2] == ["bench"]:
                    bench_parser().parse_args(words[2:])
                elif words[0] == "adanns":
                    cli.build_parser().parse_args(words[1:])
                elif words[0] == "python" and words[1].endswith(".py"):
                    assert (ROOT / words[1]).is_file(), f"{path.name}: {cmd}: no such script"
