"""The index file format: one file, versioned, checksummed, written atomically.

Layout (little-endian)::

    0   magic            8 bytes  b"\\x89ADANNS\\n"
    8   format version   u32
    12  header length    u32      (bytes of JSON)
    16  header CRC32     u32
    20  reserved         u32      (0)
    24  header           JSON: index parameters + a table of sections
    ..  sections         each 64-byte aligned; the table gives name, dtype, shape,
                         offset, length and CRC32 of each

Readers check every length and offset against the file size and every checksum
before touching the data; any inconsistency raises :class:`FormatError`.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

MAGIC = b"\x89ADANNS\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIII")
_ALIGN = 64
_MAX_HEADER = 1 << 24
_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8")}


class FormatError(ValueError):
    """An index file is not a valid adanns file: wrong magic, unsupported version,
    truncated, corrupted (checksum mismatch) or internally inconsistent."""


def _bytes(arr: np.ndarray) -> memoryview:
    """The raw bytes of an array as a flat memoryview (works for empty arrays too)."""
    return memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))


def _crc_update(crc: int, mv: memoryview) -> int:
    step = 1 << 26  # zlib.crc32 in slices: no 32-bit length limit anywhere
    for off in range(0, len(mv), step):
        crc = zlib.crc32(mv[off : off + step], crc)
    return crc


def _crc(buf: Union[bytes, memoryview, np.ndarray]) -> int:
    mv = _bytes(buf) if isinstance(buf, np.ndarray) else memoryview(buf).cast("B")
    return _crc_update(0, mv) & 0xFFFFFFFF


def _crc_pieces(pieces: Sequence[np.ndarray]) -> int:
    """CRC32 of the concatenated bytes of several arrays."""
    crc = 0
    for p in pieces:
        crc = _crc_update(crc, _bytes(p))
    return crc & 0xFFFFFFFF


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


# A section to write: name, dtype, shape, and the arrays whose bytes follow one another.
Section = Tuple[str, np.dtype, Tuple[int, ...], List[np.ndarray]]


def write_index_file(path: Union[str, "os.PathLike[str]"], header: Dict[str, Any], sections: Sequence[Section]) -> None:
    """Writes header + sections via a temporary file, fsync and an atomic rename (then a
    directory fsync): a failed write never touches an existing file at ``path``."""
    header = dict(header)
    entries = []
    for name, dt, shape, pieces in sections:
        entries.append({"name": name, "dtype": np.dtype(dt).name, "shape": [int(s) for s in shape],
                        "nbytes": sum(int(x.nbytes) for x in pieces), "crc32": _crc_pieces(pieces)})
    # The header size depends on the offsets, so iterate until the layout is stable.
    header_bytes = b""
    for _ in range(4):
        start = _align(_PREFIX.size + len(header_bytes) + 64)
        off = start
        for e in entries:
            e["offset"] = off
            off = _align(off + e["nbytes"])
        header["sections"] = entries
        new_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
        stable = _align(_PREFIX.size + len(new_bytes) + 64) == start
        header_bytes = new_bytes
        if stable:
            break
    else:  # pragma: no cover - the loop converges in two rounds
        raise RuntimeError("could not lay out the index file")

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes), _crc(header_bytes), 0))
            f.write(header_bytes)
            for (_, _, _, pieces), e in zip(sections, entries):
                f.write(b"\0" * (e["offset"] - f.tell()))
                for x in pieces:
                    # in slices: a memory-mapped piece is never copied whole
                    for b in range(0, x.shape[0], 1 << 16) if x.ndim else [0]:
                        f.write(_bytes(x[b : b + (1 << 16)] if x.ndim else x))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_index(index: Any, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes ``index`` to ``path`` via a temporary file, fsync and an atomic rename."""
    if getattr(index, "_kind", "") in ("pq", "ivfpq"):  # PQ indices: adanns/io_pq.py
        from .io_pq import save_pq

        return save_pq(index, path)
    header = dict(index._header())
    core = index._core
    sizes, ids, vectors = core.export_lists()
    arrays: List[Tuple[str, np.ndarray]] = [("list_sizes", sizes), ("ids", ids), ("vectors", vectors)]
    if header["type"] == "ivf":
        arrays.insert(0, ("centroids", core.centroids()))
    header["ntotal"] = int(ids.shape[0])
    write_index_file(path, header, [(name, a.dtype, a.shape, [a]) for name, a in arrays])


def _fail(msg: str) -> "FormatError":
    return FormatError(msg)


def read_sections(
    buf: memoryview, header: Dict[str, Any], check_crc: bool = True, dtypes: Optional[Dict[str, np.dtype]] = None
) -> Dict[str, Tuple[np.ndarray, int]]:
    """name -> (array view into buf, file offset); every bound and checksum verified."""
    dtypes = _DTYPES if dtypes is None else dtypes
    size = len(buf)
    table = header.get("sections")
    if not isinstance(table, list):
        raise _fail("header has no section table")
    out: Dict[str, Tuple[np.ndarray, int]] = {}
    for entry in table:
        if not isinstance(entry, dict):
            raise _fail("malformed section entry")
        try:
            name = str(entry["name"])
            dtype = dtypes[entry["dtype"]]
            shape = tuple(int(s) for s in entry["shape"])
            offset, nbytes, crc = int(entry["offset"]), int(entry["nbytes"]), int(entry["crc32"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise _fail("malformed section entry") from None
        if name in out:
            raise _fail(f"section {name!r} appears twice")
        if any(s < 0 for s in shape) or len(shape) > 2:
            raise _fail(f"section {name!r} has an invalid shape {shape}")
        count = 1
        for s in shape:
            count *= s
        if nbytes != count * dtype.itemsize:
            raise _fail(f"section {name!r}: length does not match its shape")
        if offset < 0 or offset % _ALIGN or offset + nbytes > size:
            raise _fail(f"section {name!r} lies outside the file (truncated?)")
        view = buf[offset : offset + nbytes]
        if check_crc and _crc(view) != crc:
            raise _fail(f"section {name!r} fails its checksum (corrupted file)")
        out[name] = (np.frombuffer(view, dtype=dtype).reshape(shape), offset)
    return out


def _get_int(header: Dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = header.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise _fail(f"header field {key!r} is missing or out of range")
    return v


def load_index(path: Union[str, "os.PathLike[str]"], *, _check_crc: bool = True) -> Any:
    """Reads an index written by :func:`save_index`; raises FormatError on any defect.

    ``_check_crc=False`` is for the fuzzer only: it lets mutated files reach the checks
    behind the checksums."""
    from .index import FlatIndex, IVFIndex

    with open(os.fspath(path), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < _PREFIX.size:
            raise _fail("file too short to be an adanns index")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    buf = memoryview(mm)
    try:
        magic, version, hlen, hcrc, _ = _PREFIX.unpack_from(buf, 0)
        if magic != MAGIC:
            raise _fail("not an adanns index file (bad magic)")
        if version != FORMAT_VERSION:
            raise _fail(f"unsupported format version {version} (this library reads {FORMAT_VERSION})")
        if hlen > _MAX_HEADER or _PREFIX.size + hlen > size:
            raise _fail("header length exceeds the file (truncated?)")
        hbytes = bytes(buf[_PREFIX.size : _PREFIX.size + hlen])
        if _check_crc and _crc(hbytes) != hcrc:
            raise _fail("header fails its checksum (corrupted file)")
        try:
            header = json.loads(hbytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _fail("header is not valid JSON") from None
        if not isinstance(header, dict):
            raise _fail("header is not a JSON object")
        if header.get("type") in ("pq", "ivfpq"):  # PQ indices: adanns/io_pq.py
            from .io_pq import load_pq
            return load_pq(os.fspath(path), buf, header, _check_crc)
        if header.get("type") == "graph":  # GraphIndex: adanns/graph_index.py
            from .graph_index import load_graph
            return load_graph(buf, header, _check_crc)
        sections = {name: arr for name, (arr, _) in read_sections(buf, header, _check_crc).items()}
        try:
            index = _build(header, sections, IVFIndex, FlatIndex)
        except FormatError:
            raise
        except (ValueError, TypeError, OverflowError, RuntimeError) as e:
            raise _fail(f"inconsistent index file: {e}") from None
        del sections
        return index
    finally:
        try:
            buf.release()
            mm.close()
        except BufferError:  # an exception traceback still holds a view; the GC closes it
            pass


def _build(header: Dict[str, Any], s: Dict[str, np.ndarray], IVFIndex: Any, FlatIndex: Any) -> Any:
    kind = header.get("type")
    dim = _get_int(header, "dim", 1, 1 << 20)
    ntotal = _get_int(header, "ntotal", 0, 1 << 48)
    metric = header.get("metric")
    if metric not in ("l2", "ip", "cosine"):
        raise _fail("header field 'metric' is invalid")
    if kind == "ivf":
        nlist = _get_int(header, "nlist", 1, 1 << 31)
        coarse_dim = _get_int(header, "coarse_dim", 1, dim)
        expected = {"centroids": (nlist, coarse_dim)}
    elif kind == "flat":
        nlist = 1
        expected = {}
    else:
        raise _fail(f"unknown index type {kind!r}")
    # Shapes are checked against the sections (whose sizes the file bounds) before anything
    # is allocated from header values.
    expected.update({"list_sizes": (nlist,), "ids": (ntotal,), "vectors": (ntotal, dim)})
    for name, shape in expected.items():
        if name not in s:
            raise _fail(f"section {name!r} is missing")
        if s[name].shape != shape:
            raise _fail(f"section {name!r} has shape {s[name].shape}, expected {shape}")
    if kind == "ivf":
        index = IVFIndex(
            dim,
            nlist,
            coarse_dim,
            metric,
            niter=_get_int(header, "niter", 0, 1 << 20),
            seed=_get_int(header, "seed", 0, 2**64 - 1),
            kmeanspp=bool(header.get("kmeanspp", False)),
            max_points_per_centroid=_get_int(header, "max_points_per_centroid", 0, 1 << 40),
        )
    else:
        index = FlatIndex(dim, metric)
    sizes, ids, vectors = s["list_sizes"], s["ids"], s["vectors"]
    if s["list_sizes"].dtype != np.int64 or ids.dtype != np.int64 or vectors.dtype != np.float32:
        raise _fail("a section has the wrong dtype")
    # (the float sum bounds the total first, so the exact integer sum cannot overflow)
    if (sizes < 0).any() or (sizes > ntotal).any() or sizes.sum(dtype=np.float64) > ntotal + 0.5 \
            or int(sizes.sum()) != ntotal:
        raise _fail("list sizes do not add up to ntotal")
    if ntotal and ids.min() < 0:
        raise _fail("negative ids in the file")
    if vectors.size and not np.isfinite(vectors).all():
        raise _fail("non-finite values in the stored vectors")
    if kind == "ivf":
        c = s["centroids"]
        if c.dtype != np.float32 or not np.isfinite(c).all():
            raise _fail("invalid centroids")
        index._core.set_centroids(c)
    if kind == "ivf" and header.get("operating_points") is not None:
        from .tuning import OperatingPoints

        try:
            ops = OperatingPoints.from_dict(header["operating_points"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise _fail("invalid operating points in the header") from None
        for p in ops.points:
            if not (1 <= p.nprobe <= nlist and 1 <= p.probe_dim <= coarse_dim and 1 <= p.scan_dim <= dim
                    and 1 <= p.rerank_dim <= dim):
                raise _fail("operating point outside the index's ranges")
        index._operating_points = ops
    lists = np.repeat(np.arange(nlist, dtype=np.int64), sizes)
    if ntotal:
        index._core.add_preassigned(vectors, ids, lists)
    return index
