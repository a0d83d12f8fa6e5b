"""``adanns bench``: recall / QPS benchmark against peers (placeholder, see issue 6)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="glove-50")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("adanns bench is not implemented yet")
