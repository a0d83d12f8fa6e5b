"""Save / load of every index type: the container is :mod:`adanns._format`, each index class
owns the codec of its sections, and :func:`load_index` dispatches on the header's ``type``
through :data:`CODECS`. Any defect raises :class:`FormatError`."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Union

from ._format import _PREFIX, FORMAT_VERSION, MAGIC, Container, FormatError, _crc, open_index_file
from .graph_index import GraphIndex
from .index import FlatIndex, IVFIndex
from .pq_index import IVFPQIndex, PQIndex

__all__ = ["load_index", "save_index", "CODECS", "FormatError", "FORMAT_VERSION", "MAGIC", "_PREFIX", "_crc"]

AnyIndex = Union[IVFIndex, FlatIndex, IVFPQIndex, PQIndex, GraphIndex]

# header "type" -> the class method that rebuilds that index from a verified container
CODECS: Dict[str, Callable[[Container], Any]] = {
    "ivf": IVFIndex._from_sections,
    "flat": FlatIndex._from_sections,
    "pq": PQIndex._from_sections,
    "ivfpq": IVFPQIndex._from_sections,
    "graph": GraphIndex._from_sections,
}


def save_index(index: AnyIndex, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes ``index`` to ``path`` via a temporary file, fsync and an atomic rename."""
    index.save(path)


# index types whose vectors ``load(mmap=True)`` serves from the mapped file
MMAP_TYPES = ("ivf", "flat", "graph")


def load_index(path: Union[str, "os.PathLike[str]"], *, mmap: bool = False, _check_crc: bool = True) -> AnyIndex:
    """Reads an index written by ``index.save``; raises FormatError on any defect.

    ``mmap=True`` (IVF-Flat, Flat and graph indices): the stored vectors are not read into memory
    but served from the file, memory-mapped read-only (the page cache holds what searches touch;
    a graph index keeps its walk prefix in memory and maps the full rows of the rerank).

    ``_check_crc=False`` is for the fuzzer only: it lets mutated files reach the checks
    behind the checksums. Error messages start with the file's path."""
    try:
        return _load(path, _check_crc, bool(mmap))
    except FormatError as e:
        raise FormatError(f"{os.fspath(path)}: {e}") from None


def _load(path: Union[str, "os.PathLike[str]"], check_crc: bool, mmap: bool = False) -> AnyIndex:
    with open_index_file(path, check_crc) as f:
        kind = f.header.get("type")
        codec = CODECS.get(kind) if isinstance(kind, str) else None
        if codec is None:
            raise FormatError(f"unknown index type {kind!r}")
        if mmap and kind not in MMAP_TYPES:
            raise ValueError(f"load(mmap=True) maps IVF-Flat, Flat and graph indices; this file holds a {kind!r} index "
                             f"(PQ indices map their full vectors with keep_full='mmap')")
        f.mmap = mmap
        try:
            return codec(f)
        except FormatError:
            raise
        except (ValueError, TypeError, OverflowError, RuntimeError) as e:
            raise FormatError(f"inconsistent index file: {e}") from None
