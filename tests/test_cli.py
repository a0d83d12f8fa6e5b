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
