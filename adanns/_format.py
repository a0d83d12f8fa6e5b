"""The container of every index file: one file, versioned, checksummed, written atomically.

This module imports nothing of ours; each index class owns the codec of its sections
(``_to_sections`` / ``_from_sections``) and :func:`adanns.io.load_index` dispatches on the
header's ``type`` through a registry.

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

import errno
import json
import mmap
import os
import stat
import struct
import tempfile
import zlib
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

MAGIC = b"\x89ADANNS\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sIIII")
_ALIGN = 64
_MAX_HEADER = 1 << 24
_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8"), "uint8": np.dtype("u1")}


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


_TMP_PREFIX = ".adanns-save."


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (os.umask would race
    with files other threads create); 0o022 where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _save_target(path: Union[str, "os.PathLike[str]"]) -> str:
    """The file a save writes: symlinks are followed (the link's target is replaced, the link kept),
    and anything that exists but is not a regular file (a device, a FIFO, a directory) is refused."""
    real = os.path.realpath(os.fspath(path))
    if os.path.lexists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        raise ValueError(f"{os.fspath(path)}: exists and is not a regular file; refusing to replace it")
    return real


def _remove_stale_temporaries(directory: str) -> None:
    """Deletes temporary files of saves whose writer process no longer exists (killed mid-save)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(_TMP_PREFIX) and name.endswith(".tmp")):
            continue
        try:
            pid = int(name[len(_TMP_PREFIX):].split(".", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


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

    path = _save_target(path)
    directory = os.path.dirname(path)
    _remove_stale_temporaries(directory)
    # A short temporary name (a long valid target name must not overflow NAME_MAX), carrying the
    # writer's pid so that a later save can remove what a killed writer left behind.
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}.", suffix=".tmp", dir=directory)
    os.fchmod(fd, 0o666 & ~_umask())  # the mode open() would give a new file, not mkstemp's 0600
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
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno is not None:
            # name the cause (ENOSPC, EFBIG, EDQUOT, EIO ...) and what was kept
            raise OSError(e.errno, f"saving {path} failed: {e.strerror} ({errno.errorcode.get(e.errno, e.errno)}); "
                                   f"the previous file, if any, is unchanged") from e
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_sections(
    buf: memoryview, header: Dict[str, Any], check_crc: bool = True, dtypes: Optional[Dict[str, np.dtype]] = None
) -> Dict[str, Tuple[np.ndarray, int]]:
    """name -> (array view into buf, file offset); every bound and checksum verified."""
    dtypes = _DTYPES if dtypes is None else dtypes
    size = len(buf)
    table = header.get("sections")
    if not isinstance(table, list):
        raise FormatError("header has no section table")
    out: Dict[str, Tuple[np.ndarray, int]] = {}
    for entry in table:
        if not isinstance(entry, dict):
            raise FormatError("malformed section entry")
        try:
            name = str(entry["name"])
            dtype = dtypes[entry["dtype"]]
            shape = tuple(int(s) for s in entry["shape"])
            offset, nbytes, crc = int(entry["offset"]), int(entry["nbytes"]), int(entry["crc32"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise FormatError("malformed section entry") from None
        if name in out:
            raise FormatError(f"section {name!r} appears twice")
        if any(s < 0 for s in shape) or len(shape) > 2:
            raise FormatError(f"section {name!r} has an invalid shape {shape}")
        count = 1
        for s in shape:
            count *= s
        if nbytes != count * dtype.itemsize:
            raise FormatError(f"section {name!r}: length does not match its shape")
        if offset < 0 or offset % _ALIGN or offset + nbytes > size:
            raise FormatError(f"section {name!r} lies outside the file (truncated?)")
        view = buf[offset : offset + nbytes]
        if check_crc and _crc(view) != crc:
            raise FormatError(f"section {name!r} fails its checksum (corrupted file)")
        out[name] = (np.frombuffer(view, dtype=dtype).reshape(shape), offset)
    return out


def get_int(header: Dict[str, Any], key: str, lo: int, hi: int) -> int:
    v = header.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise FormatError(f"header field {key!r} is missing or out of range")
    return v




def all_finite(a: np.ndarray, bound: Optional[float] = None) -> bool:
    """``np.isfinite(a).all()`` (or, given ``bound``, every ``|a| < bound``: the value bound that
    ``add`` enforces) in slices, so a memory-mapped array is never copied whole."""
    ok = np.isfinite if bound is None else (lambda v: np.abs(v) < bound)
    if not a.ndim:
        return bool(ok(a))
    step = max(1, (1 << 20) // max(1, a.shape[1] if a.ndim == 2 else 1))
    return all(ok(a[b : b + step]).all() for b in range(0, a.shape[0], step))


def check_sections(s: Dict[str, Tuple[np.ndarray, int]], expected: Dict[str, Tuple[Tuple[int, ...], str]],
                   exclusive: bool) -> None:
    """Every expected section is present with its shape and dtype (and, if ``exclusive``, no other)."""
    for name, (shape, dt) in expected.items():
        if name not in s:
            raise FormatError(f"section {name!r} is missing")
        arr = s[name][0]
        if arr.shape != shape or arr.dtype.name != dt:
            raise FormatError(f"section {name!r} has shape {arr.shape} / {arr.dtype}, expected {shape} / {dt}")
    if exclusive:
        for name in s:
            if name not in expected:
                raise FormatError(f"unexpected section {name!r}")


class Container:
    """An opened, verified index file: its path, JSON header and sections (name -> (array view,
    file offset)). The views point into a read-only mapping that closes with the ``with`` block."""

    def __init__(self, path: str, header: Dict[str, Any], buf: memoryview, check_crc: bool) -> None:
        self.path, self.header, self._buf, self.check_crc = path, header, buf, check_crc
        self.mmap = False  # load(mmap=True): a codec that can serves its vectors from the file

    def sections(self, dtypes: Optional[Dict[str, np.dtype]] = None) -> Dict[str, Tuple[np.ndarray, int]]:
        """name -> (array view into the file, file offset); every bound and checksum verified.
        ``dtypes`` widens the accepted section dtypes (a codec with its own, e.g. uint32)."""
        return read_sections(self._buf, self.header, self.check_crc, dtypes)


@contextmanager
def open_index_file(path: Union[str, "os.PathLike[str]"], check_crc: bool = True) -> Iterator[Container]:
    """Maps ``path`` read-only and verifies magic, version and header; yields a :class:`Container`.

    ``check_crc=False`` is for the fuzzer only: it lets mutated files reach the checks behind
    the checksums."""
    path = os.fspath(path)
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block open()
        raise FormatError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < _PREFIX.size:
            raise FormatError("file too short to be an adanns index")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    buf = memoryview(mm)
    try:
        magic, version, hlen, hcrc, _ = _PREFIX.unpack_from(buf, 0)
        if magic != MAGIC:
            raise FormatError("not an adanns index file (bad magic)")
        if version != FORMAT_VERSION:
            raise FormatError(f"unsupported format version {version} (this library reads {FORMAT_VERSION})")
        if hlen > _MAX_HEADER or _PREFIX.size + hlen > size:
            raise FormatError("header length exceeds the file (truncated?)")
        hbytes = bytes(buf[_PREFIX.size : _PREFIX.size + hlen])
        if check_crc and _crc(hbytes) != hcrc:
            raise FormatError("header fails its checksum (corrupted file)")
        try:
            header = json.loads(hbytes.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FormatError("header is not valid JSON") from None
        if not isinstance(header, dict):
            raise FormatError("header is not a JSON object")
        yield Container(path, header, buf, check_crc)
    finally:
        try:
            buf.release()
            mm.close()
        except BufferError:  # an exception traceback still holds a view; the GC closes it
            pass


class MappedFile:
    """The file an index serves rows from (``load(mmap=True)``, ``keep_full="mmap"``), held open.

    Pages of a mapping whose file was truncated raise SIGBUS when touched, which kills the process;
    :meth:`check` (called on entry to every search, add, update, removal and save of a mapped index)
    compares the open file's size and modification time (``fstat``) with those at load and raises a
    ``RuntimeError`` naming the file instead. A file *replaced* by a rename (what ``save`` does) keeps
    the old inode, which this handle and the mapping still hold: that is safe and not reported.
    Changing the file while a call is already running is not detected (docs/reliability.md)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(self._fd)
        self._seen = (st.st_ino, st.st_size, st.st_mtime_ns)

    def check(self) -> None:
        st = os.fstat(self._fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != self._seen:
            what = "truncated" if st.st_size < self._seen[1] else "modified in place"
            raise RuntimeError(
                f"{self.path}: the index file this index memory-maps was {what} after load "
                f"(size {self._seen[1]} -> {st.st_size} bytes); reading it could crash the process. Load the "
                f"index again (save() replaces a file by a rename, which is safe; writing into it is not)")

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
            self._fd = None
