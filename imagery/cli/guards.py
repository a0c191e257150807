"""Checks the commands make before they write: an output they can write, no input replaced.

Each refusal is an :class:`~imagery.errors.OutputError` naming the path and the reason,
which the CLI prints as one line (exit status 1).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from imagery.errors import OutputError, PortwatchError


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename is not None else reason


def check_output(path: str | os.PathLike, *, is_file: bool = False) -> None:
    """Refuse, before any work, an output that cannot be created where it is asked for.

    The nearest existing folder on the way to ``path`` must be a folder the user may
    write in (and ``path`` itself, when it exists, a folder, or a file when ``is_file``).
    What only writing can tell (a read-only file system, ``/proc``) is caught as it is
    written, by :func:`writing`.

    Raises
    ------
    OutputError
        A file is in the way, or the folder is not writable.
    """
    target = Path(path)
    if is_file and target.is_dir():
        raise OutputError(f"{path}: is a folder; give the output a file name")
    if not is_file and target.exists() and not target.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; give --out a folder")
    folder = target.parent if is_file else target
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(
            f"{path}: cannot write the output ({os.strerror(errno.ENOTDIR)}: {folder})"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"{path}: cannot write the output ({os.strerror(errno.EACCES)}: {folder})"
        )


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OS error raised while writing ``path`` into an :class:`OutputError` naming it.

    Wrap only the writing: an error reading an input would be blamed on ``path``.
    portwatch's own errors pass through unchanged.
    """
    try:
        yield
    except PortwatchError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the output ({_reason(exc)})") from exc


def refuse_overwriting(
    inputs: Iterable[str | os.PathLike],
    outputs: Iterable[str | os.PathLike],
    *,
    folders: Iterable[str | os.PathLike] = (),
) -> None:
    """Refuse when writing ``outputs`` (files) or replacing ``folders`` whole would
    replace one of ``inputs``; paths are compared resolved (links, ``..``), and existing
    files by identity (hard links).

    Raises
    ------
    OutputError
        Naming the input and the output that would replace it.
    """
    outputs = [Path(p) for p in outputs]
    folders = [Path(p) for p in folders]
    for given in inputs:
        source = Path(given)
        if not source.exists():
            continue  # refused, naming it, by the reader
        real = source.resolve()
        for out in outputs:
            same = out.resolve() == real
            with contextlib.suppress(OSError):
                same = same or (out.exists() and os.path.samefile(out, source))
            if same:
                raise OutputError(
                    f"{given}: this input would be overwritten by the output {out}; "
                    "write to another --out"
                )
        for folder in folders:
            if real.is_relative_to(folder.resolve()):
                raise OutputError(
                    f"{given}: this input lies in {folder}, which the run replaces; "
                    "write to another --out"
                )
