import os
import sys

# The tests exercise the installed package (with its compiled core). `python -m pytest` from
# the repository root would put the root on sys.path, where the source folder adanns/ (without
# _core) would shadow it: drop the root from the path.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _ROOT]

# Make the numpy reference helpers importable (tests/ only).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
