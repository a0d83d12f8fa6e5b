import os
import sys

# Make the numpy reference helpers importable (tests/ only: the repository root must
# not shadow the installed package, whose compiled core the tests exercise).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
