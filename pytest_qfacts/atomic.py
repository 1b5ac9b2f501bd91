"""Atomic writes that a killed process cannot leave behind: the one implementation of them.

Every file or folder pytest-qfacts writes (JSON and HTML reports, stored baselines, the
quantized-model cache, converted GGUF weights) is staged, then renamed into place with
``os.replace``: a reader sees the old content or the new, never half of it.

**Where the staging lives.** ``<parent>/.qfacts-tmp/``, beside the target (the same file
system, so the rename is atomic). The folder holds a ``.gitignore`` of ``*``, so ``git add``
never picks up anything in it, even inside a committed baseline folder; it is removed again
as soon as it is empty.

**What a write leaves while it runs.** ``<token>.lock``, a lock file the writer holds
(``flock``), and ``<token>.part``, the file or folder being written. The token is
``<target name>.<pid>-<random hex>``. The writer creates the lock first and removes it last.

**Stale.** A ``.lock`` whose lock is not held belongs to a dead writer: the kernel drops a
process's ``flock`` when it dies, SIGKILL included, so this needs no clock and no pid check.
``sweep_stale(folder)`` removes such a lock with its ``.part``, and a ``.part`` whose lock is
gone; it runs before every write into ``folder`` and, through ``outputs.sweep_outputs``, at
the start of a run. After a killed run and a rerun nothing of the killed run remains.

**Named locks** (``named_lock``: one quantized-cache entry, one GGUF conversion) live in the
same staging folder, are removed on release, and a stale one is swept like any other.
Removing a lock file is safe by the usual protocol: the holder unlinks it before unlocking,
and whoever locks a file checks that its path still names the same file, else tries again.

**Test hook** (tests only, never set it in normal use): ``QFACTS_TEST_PAUSE_BEFORE_REPLACE``
= seconds to sleep after a write is staged, before it is renamed into place, so that a test
can kill the process while the staged write is visible.

Atomic against a killed process, not against power loss (nothing is fsynced).
"""
from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover -- Windows: msvcrt below
    fcntl = None

STAGING = ".qfacts-tmp"
LOCK = ".lock"
PART = ".part"
GITIGNORE = ".gitignore"
IGNORE_ALL = "# pytest-qfacts: temporary files of writes in progress\n*\n"
PAUSE_ENV = "QFACTS_TEST_PAUSE_BEFORE_REPLACE"
TOKEN_HEX_BYTES = 6      # 12 hex digits of randomness after the pid
STAGE_ATTEMPTS = 20      # a concurrent sweep may remove an empty staging folder between mkdir and our lock file

Writer = Callable[[Path], object]


# -- locks ----------------------------------------------------------------------------
def _lock_fd(fd: int, blocking: bool) -> bool:
    """Take an exclusive lock on ``fd``; False when ``blocking`` is off and another holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True
    if sys.platform != "win32":  # pragma: no cover -- fcntl is missing only on Windows (what `import msvcrt` would raise)
        raise ImportError(f"no file locking on {sys.platform}: neither fcntl nor msvcrt can be imported")
    import msvcrt  # pragma: no cover

    while True:  # pragma: no cover
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not blocking:
                return False
            time.sleep(0.05)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _acquire(path: Path, *, create: bool, blocking: bool) -> int | None:
    """An open, locked descriptor of the file ``path`` names now; None when absent (``create`` off)
    or held by another (``blocking`` off)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
        except FileNotFoundError:
            if create:
                raise
            return None
        if not _lock_fd(fd, blocking):
            os.close(fd)
            return None
        if _same_file(fd, path):  # not unlinked by its previous holder between our open and our lock
            return fd
        os.close(fd)
        if not create:
            return None


def _release(fd: int, path: Path) -> None:
    """Remove the lock file, then unlock (in that order: see the module docstring)."""
    with suppress(OSError):  # Windows cannot unlink an open file: it stays, harmless
        path.unlink(missing_ok=True)
    os.close(fd)


@contextmanager
def named_lock(folder: str | Path, name: str) -> Iterator[Path]:
    """Hold the lock ``<folder>/.qfacts-tmp/<name>.lock`` (other processes wait); removed on release."""
    staging = Path(folder) / STAGING
    fd, path = _stage_lock(staging, name)
    try:
        yield path
    finally:
        _release(fd, path)
        _remove_if_empty(staging)


# -- the staging folder -------------------------------------------------------------------
def _ensure_gitignore(staging: Path) -> None:
    try:
        with open(staging / GITIGNORE, "x", encoding="utf-8") as f:
            f.write(IGNORE_ALL)
    except FileExistsError:
        pass
    except FileNotFoundError:  # another process removed the (then empty) staging folder just now: nothing to ignore
        pass


def _stage_lock(staging: Path, stem: str) -> tuple[int, Path]:
    """Create the staging folder (with its .gitignore) and hold ``<stem>.lock`` in it."""
    path = staging / f"{stem}{LOCK}"
    for _ in range(STAGE_ATTEMPTS):
        try:
            staging.mkdir(parents=True, exist_ok=True)
            _ensure_gitignore(staging)
            fd = _acquire(path, create=True, blocking=True)
            assert fd is not None  # with create and blocking, _acquire returns a descriptor or raises
            return fd, path
        except (FileNotFoundError, FileExistsError):  # another process removed the empty staging folder just now
            continue
    raise OSError(f"could not create a lock file in {staging} (removed {STAGE_ATTEMPTS} times while in use)")


def _remove_if_empty(staging: Path) -> None:
    """Remove the staging folder when it holds nothing but its .gitignore."""
    try:
        if set(os.listdir(staging)) - {GITIGNORE}:
            return
        (staging / GITIGNORE).unlink(missing_ok=True)
        staging.rmdir()
    except FileNotFoundError:
        return
    except OSError:  # a writer arrived between the listing and the rmdir: keep its files ignored by git
        if staging.is_dir():
            _ensure_gitignore(staging)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep_stale(folder: str | Path) -> list[Path]:
    """Remove what dead writers left in ``<folder>/.qfacts-tmp`` (see the module docstring); return it.

    Never touches a write in progress: a ``.lock`` that another process holds is left alone.
    """
    staging = Path(folder) / STAGING
    try:
        names = sorted(os.listdir(staging))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for name in names:
        path = staging / name
        if name.endswith(LOCK):
            fd = _acquire(path, create=False, blocking=False)
            if fd is None:  # held by a live writer, or already gone
                continue
            part = staging / (name[: -len(LOCK)] + PART)
            if part.exists():
                _remove(part)
                removed.append(part)
            _release(fd, path)
            removed.append(path)
        elif name.endswith(PART) and os.path.lexists(path) and not (staging / (name[: -len(PART)] + LOCK)).exists():
            _remove(path)  # its writer created the lock first and removes it last: this part is an orphan
            removed.append(path)
    _remove_if_empty(staging)
    return removed


# -- writes ---------------------------------------------------------------------------------
def _pause_for_tests() -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))


def _staged_write(path: Path, write: Writer, *, directory: bool, mode: int | None) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path.parent)
    staging = path.parent / STAGING
    token = f"{path.name}.{os.getpid()}-{secrets.token_hex(TOKEN_HEX_BYTES)}"
    fd, lock = _stage_lock(staging, token)
    part = staging / f"{token}{PART}"
    try:
        if directory:
            part.mkdir()
        if write(part) is False:
            return False
        if mode is not None:
            os.chmod(part, mode)
        _pause_for_tests()
        if directory and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # os.replace cannot put a folder onto a non-empty one
        os.replace(part, path)
        return True
    finally:
        if os.path.lexists(part):
            _remove(part)
        _release(fd, lock)
        _remove_if_empty(staging)


def atomic_write(path: str | Path, write: Writer, *, mode: int | None = None) -> bool:
    """Write the file ``path`` atomically: ``write(tmp)`` creates the file ``tmp`` (in the staging
    folder), which then replaces ``path``. ``write`` returning ``False`` cancels (nothing changes,
    returns False). ``mode``: permission bits to set (default: as ``write`` created it, i.e. the umask's)."""
    return _staged_write(Path(path), write, directory=False, mode=mode)


def atomic_write_dir(path: str | Path, write: Writer) -> bool:
    """Write the folder ``path`` atomically: ``write(tmp)`` fills the new, empty folder ``tmp``, which
    then replaces ``path`` (an existing folder there is removed first). ``write`` returning ``False``
    cancels (nothing changes, returns False)."""
    return _staged_write(Path(path), write, directory=True, mode=None)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))
