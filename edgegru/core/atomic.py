"""All-or-nothing writes: files and directories are built beside their target and swapped in.

Every file and directory edgegru writes goes through here, so an interrupted or failed
write never leaves a half-written model or export behind, and never loses the previous one:

* a file is written to a temporary name in the same directory, then renamed over the
  target (one atomic step);
* a directory (a C export) is built complete beside the target, then exchanged with the
  old one in one atomic step where the system has ``renameat2(RENAME_EXCHANGE)`` (Linux 3.15
  and later on ext4, xfs, btrfs, tmpfs), and elsewhere by two renames that keep the old
  export complete under a backup name until the new one is in place.

Temporary names carry the writer's process id (``.<name>.<pid>.<random>.tmp``). A process
killed mid-write cannot clean up after itself, so the next write to the same target removes
the temporaries of writers that are no longer running.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from edgegru.core.errors import EdgeGruError, quote

TEMP_SUFFIX = ".tmp"
AT_FDCWD = -100
RENAME_EXCHANGE = 2


def output_mode(directory: bool = False) -> int:
    """The permissions a new file (or directory) gets from the process's umask: temporary
    files are created private, and the renamed result should look like any other output."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def check_output_path(path: Path, what: str = "file") -> None:
    """Refuse output paths that are not a plain name in an existing directory, and (for a
    file) anything already there that is not a regular file: a device such as /dev/null
    must never be replaced by a rename."""
    if path.name in ("", ".", ".."):
        raise EdgeGruError(f"output path {quote(path)}: expected a {what} name")
    if not path.parent.is_dir():
        raise EdgeGruError(f"{path}: directory {path.parent} does not exist")
    if what == "file" and (path.is_dir() or (path.exists() and not path.is_file())):
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise EdgeGruError(f"{path}: is {kind}; expected a file to write")


def check_output_directory(out_dir: Path, names: set[str]) -> None:
    """Refuse an output directory that cannot be written, or that holds anything but
    ``names`` (what this writer wrote there before, and will replace): a directory swapped in
    whole must never take a user's other files with it."""
    check_output_path(out_dir, "directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeGruError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
        raise EdgeGruError(f"{out_dir}: directory is not writable")
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in names)
        if others:
            raise EdgeGruError(
                f"{out_dir}: directory exists and holds other files ({', '.join(others[:3])}); "
                "choose an empty or new directory"
            )


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Remove the temporaries that killed writers of ``path`` left beside it.

    Only names of the form ``.<name>.<pid>.<random>.tmp`` whose pid no longer runs are
    touched: a concurrent writer's work in progress is left alone.
    """
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^/]*{re.escape(TEMP_SUFFIX)}$")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        match = pattern.match(sibling.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


def _write_failed(path: Path, exc: OSError) -> EdgeGruError:
    """An OSError while writing ``path`` as one line naming the file (disk full, quota...)."""
    return EdgeGruError(f"{path}: cannot write ({exc.strerror or exc})")


@contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only if the block succeeds."""
    path = Path(path)
    check_output_path(path)
    remove_stale_temporaries(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, output_mode())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_failed(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path) as fh:
        fh.write(data)


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot.

    ``renameat2`` with ``RENAME_EXCHANGE`` is Linux's (glibc 2.28 and later); other systems,
    and file systems that refuse the flag, report that it is not available.
    """
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(new: Path, dest: Path) -> Path | None:
    """Put the complete directory ``new`` at ``dest``; return what to remove afterwards (the
    old export, or the folder holding it), or None if there was no old one.

    At every moment ``dest`` is the old export or the new one, complete. With the fallback
    it is briefly absent while the old one waits, complete, in a backup folder beside it,
    and is put back if the second rename fails.
    """
    if not dest.exists():
        os.rename(new, dest)
        return None
    if exchange(new, dest):
        return new  # it now holds the old export
    holder = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=TEMP_SUFFIX, dir=dest.parent))
    os.rename(dest, holder / dest.name)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(holder / dest.name, dest)
        holder.rmdir()
        raise
    return holder


def atomic_directory(dest: Path, fill: Callable[[Path], None]) -> None:
    """Build a directory with ``fill`` beside ``dest`` and swap it in only when complete.

    The previous ``dest`` stays complete until the new one is; a failure at any step leaves
    it as it was, and its files are removed only after the swap.
    """
    remove_stale_temporaries(dest)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(dest), suffix=TEMP_SUFFIX, dir=dest.parent))
    except OSError as exc:
        raise _write_failed(dest, exc) from None
    old: Path | None = None
    try:
        os.chmod(tmp, output_mode(directory=True))
        fill(tmp)
        old = _swap_in(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_failed(dest, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)  # a leftover is removed by the next export
