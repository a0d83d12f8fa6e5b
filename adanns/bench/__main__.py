"""``python -m adanns.bench`` (same as ``adanns bench``)."""

import sys

from .cli import main

sys.exit(main())
