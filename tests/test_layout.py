"""The package's shape: imports point one way, files stay small, old files still load, and the
source folder shadowing the installed package gives a clear error."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import adanns

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "adanns"
MAX_LINES = 620


def _modules():
    """module name -> path of every .py file of the source package."""
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(mod: str, is_pkg: bool, level: int, target: str) -> str:
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph():
    """module -> {(imported module, line, inside a function)} for imports of adanns modules,
    function-level ones included."""
    mods = _modules()
    graph = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        edges = set()

        def visit(node, in_func):
            for child in ast.iter_child_nodes(node):
                f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                targets = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = _resolve(mod, is_pkg, child.level, child.module or "") if child.level else (child.module or "")
                    for a in child.names:  # "from . import x": x may be a module
                        sub = f"{base}.{a.name}"
                        targets.append(sub if sub in mods or sub == "adanns._core" else base)
                for t in targets:
                    if t == "adanns" or t.startswith("adanns."):
                        edges.add((t, child.lineno, f))
                visit(child, f)

        visit(tree, False)
        graph[mod] = edges
    return graph


def _cycle(graph):
    state, stack = {}, []

    def dfs(u):
        state[u] = 1
        stack.append(u)
        for v, _, _ in sorted(graph.get(u, ())):
            if v not in graph or v == u:
                continue
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = dfs(v)
                if found:
                    return found
        state[u] = 2
        stack.pop()
        return None

    for u in sorted(graph):
        if u not in state:
            found = dfs(u)
            if found:
                return found
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert "adanns.index" in graph and any(v == "adanns.tuning" for v, _, _ in graph["adanns.index"])
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detector_sees_function_level_imports():
    graph = {"a": {("b", 1, False)}, "b": {("a", 5, True)}}
    assert _cycle(graph) == ["a", "b", "a"]


# The one deliberate lazy import: `adanns bench` loads the benchmark only when it runs, so that
# every other `adanns` call stays light.
LAZY_OK = {("adanns.cli", "adanns.bench.cli")}


def test_no_import_of_our_modules_inside_functions():
    bad = [f"{mod}:{line} imports {t}" for mod, edges in import_graph().items() for t, line, f in edges
           if f and (mod, t) not in LAZY_OK]
    assert not bad, bad


def test_cli_does_not_import_the_benchmark():
    code = "import sys, adanns.cli; print(any(m.startswith('adanns.bench') for m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT.parent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_no_file_over_the_size_limit():
    big = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, big


@pytest.mark.parametrize("seed", sorted((ROOT / "fuzz" / "corpus").glob("[!s]*.bin")), ids=lambda p: p.name)
def test_fuzz_seed_files_load_and_save_byte_identical(seed, tmp_path):
    """The committed seed files (written before the package was reorganised) still load, and
    saving them again gives the same bytes: the file format did not change."""
    raw = seed.read_bytes()[1:]  # first byte: the fuzzer's mode
    src, dst = tmp_path / "in.adanns", tmp_path / "out.adanns"
    src.write_bytes(raw)
    index = adanns.load(src)
    assert index.ntotal >= 0
    index.save(dst)
    if seed.name.startswith("graph_") and "int8" in seed.name and b"sq_wide" not in raw:
        # the one format change since: int8 graph files now say how many leading dims have
        # 16-bit codes (sq_wide); files without it load with those dims' steps converted, and
        # the new file then round-trips byte for byte
        sq = index._core.quantizer()
        index.save(dst)
        again = tmp_path / "again.adanns"
        back = adanns.load(dst)
        back.save(again)
        assert again.read_bytes() == dst.read_bytes() and dst.read_bytes() != raw
        np.testing.assert_array_equal(back._core.quantizer(), sq)
        return
    assert dst.read_bytes() == raw


def test_source_folder_shadowing_gives_a_clear_error(tmp_path):
    """`python -c "import adanns"` in a clone (no compiled core there) names the cause and the fix."""
    clone = tmp_path / "clone"
    shutil.copytree(PKG, clone / "adanns", ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    (clone / "pyproject.toml").write_text("[project]\nname = 'adanns'\n")
    # -S: no site-packages, so only the source folder can be found (as with a plain install)
    r = subprocess.run([sys.executable, "-S", "-c", "import adanns"], cwd=clone, capture_output=True, text=True)
    assert r.returncode != 0
    assert "source folder" in r.stderr and "pip install -e ." in r.stderr and "another directory" in r.stderr


def test_package_exposes_its_modules():
    for name in ("datasets", "transforms", "evaluation"):
        assert hasattr(adanns, name), name
    assert adanns.transforms.PCATransform is not None
    assert callable(adanns.evaluation.ground_truth)


@pytest.mark.parametrize("kind", ["ivf", "flat", "pq", "ivfpq"])
def test_duplicate_ids_in_one_add_raise(kind):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    index = {"ivf": lambda: adanns.IVFIndex(16, 4), "flat": lambda: adanns.FlatIndex(16),
             "pq": lambda: adanns.PQIndex(16, m=4), "ivfpq": lambda: adanns.IVFPQIndex(16, 4, m=4)}[kind]()
    if kind != "flat":
        index.train(x)
    ids = np.arange(10)
    ids[7] = 3
    with pytest.raises(ValueError, match="duplicate ids"):
        index.add(x[:10], ids)
    assert index.ntotal == 0
    index.add(x[:10], np.arange(10))
    assert index.ntotal == 10
