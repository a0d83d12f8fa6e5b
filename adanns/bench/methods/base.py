"""The interface of a benchmarked method (one built index swept over its settings)."""

from __future__ import annotations

import gc
import os
from typing import List, Optional, Tuple

import numpy as np

from ..config import Context, Setting


class Method:
    """A benchmarked index: build once, then search with several settings.

    Subclasses set ``family``/``library``, and implement :meth:`build`, :meth:`series`,
    :meth:`search` (and optionally :meth:`madds`, :meth:`serialize`).
    """

    family = ""
    library = ""
    requires: Tuple[str, ...] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.build_params: Setting = {}

    @property
    def name(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.build_params.items() if k in self._name_keys)
        return f"{self.family}[{extra}]" if extra else self.family

    _name_keys: Tuple[str, ...] = ()

    def check(self) -> Optional[str]:
        """A reason to skip this method, or None. Default: import each module in ``requires``."""
        for mod in self.requires:
            try:
                __import__(mod)
            except Exception as e:  # noqa: BLE001 - any import failure means "skipped"
                return f"cannot import {mod}: {type(e).__name__}: {e}".strip()
        return None

    def memory_bytes(self) -> float:
        """A rough upper estimate of the peak memory of the build."""
        n, d = self.ctx.xb.shape
        return 2.5 * n * d * 4

    @classmethod
    def instances(cls, ctx: Context) -> List["Method"]:
        """The indices of this method for a run (default: one; some build one per coarse_dim)."""
        return [cls(ctx)]

    def build(self) -> None:
        raise NotImplementedError

    def series(self) -> List[List[Setting]]:
        """Sweeps, each ordered from fastest/least accurate to slowest/most accurate."""
        raise NotImplementedError

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        """Ids (nq, k) of the top-k of each query under setting ``s``."""
        raise NotImplementedError

    def family_of(self, s: Setting) -> str:
        return self.family

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return None

    file_name: Optional[str] = None  # the saved index under the size-measurement folder

    def serialize(self, directory: str) -> Optional[str]:
        """Writes the index (``save``) under ``directory`` and returns the path (file or folder),
        or None for a method that cannot be saved."""
        if self.file_name is None:
            return None
        path = os.path.join(directory, self.file_name)
        self.save(path)
        return path

    def save(self, path: str) -> None:
        raise NotImplementedError

    def unsaved_bytes_per_vector(self) -> float:
        """Bytes per vector the index holds in memory but does not save (derived copies), added
        to the saved size in the report's bytes per vector."""
        return 0.0

    def release(self) -> None:
        for attr in list(vars(self)):
            if attr not in ("ctx", "build_params"):
                setattr(self, attr, None)
        gc.collect()
