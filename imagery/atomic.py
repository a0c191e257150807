"""Atomic file writes: write beside the target, then rename over it.

A reader (or an analyst's QGIS) never sees a half-written file, and a run that fails
half way leaves the previous file untouched. :func:`locked` serialises the
read-modify-write of a file that several processes update (an AOI's history).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "file_version", "locked"]


def file_version(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one version of a file from another: its modification time and size,
    and its inode and status-change time (ns). A file replaced by a rename (an atomic
    write) is another inode; one rewritten in place keeping its size and modification
    time (``touch -r``, a copy that preserves times) still changes its ctime, which no
    user call can set back (at the kernel clock's tick)."""
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary file keeps the target's extension (drivers such as GDAL's pick the
    format from it). On any exception the temporary file is removed and ``path`` is
    left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(target.suffixes[-1:])
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{ext}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let the writer create it (GDAL refuses some drivers on an existing file)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, *tmp.parent.glob(tmp.name + ".*")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def locked(path: str | os.PathLike, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a lock file, created if missing) while the
    block runs; other processes and other threads taking the same lock wait (``wait``
    False: raise BlockingIOError at once instead).

    An atomic rename keeps a file whole, not up to date: two processes that each read a
    file, add to it and write it back lose one's additions. POSIX record locks
    (``fcntl.lockf``) are taken, which NFS also honours, so workers of a dask cluster on
    other machines sharing the folder wait too. Where ``fcntl`` does not exist
    (Windows) the block runs unlocked between processes.

    A record lock belongs to a process, not a thread: a second thread of the holder
    would be granted it at once, and closing its own handle on the file would release
    the holder's (POSIX.1-2008, ``fcntl``). A dask worker started by hand runs its tasks
    as threads of one process, so the threads of a process first queue on a lock of
    their own for the same file.
    """
    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    in_process = _thread_lock(lock)
    if not in_process.acquire(blocking=wait):
        raise BlockingIOError(f"{lock}: held by another thread of this process")
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        with open(lock, "a+b") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield
            finally:
                fcntl.lockf(handle, fcntl.LOCK_UN)
    finally:
        in_process.release()


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(lock: Path) -> threading.Lock:
    """The one in-process lock of a lock file (by its real path: one file, one lock)."""
    key = os.path.realpath(lock)
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())
