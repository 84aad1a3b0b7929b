"""Private state on disk: the one way the SDK and the AS write a file.

Everything the client SDK and the AS keep on disk is secret (signature private keys,
KeyPackage private keys, group epoch secrets, the AS root key) or says who talks to
whom, so every such file is created mode 0600 inside a folder of mode 0700, whatever
the process umask. A write is atomic: the bytes go to a fresh temporary file in the same
folder (created 0600 by :func:`tempfile.mkstemp`), are flushed to disk, and the file is
renamed over the old one; then the folder is synced so the rename itself survives a
crash. A reader therefore sees the old content or the new one, never a mix, and a crash
leaves at most a stray temporary file (``NAME.XXXX``, which no loader reads).

>>> import tempfile, pathlib, stat
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> write_private(root / "state" / "groups" / "g.bin", b"secret")
>>> oct(stat.S_IMODE((root / "state" / "groups" / "g.bin").stat().st_mode))
'0o600'
>>> oct(stat.S_IMODE((root / "state" / "groups").stat().st_mode))
'0o700'
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700.

    A folder that exists already is tightened too, so a state directory written by an
    older version (0755) becomes private the next time it is used. Missing parents are
    made 0700 as well: they are created for this state only."""
    p = Path(path)
    missing: list[Path] = []
    q = p
    while not q.exists():
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            d.mkdir(mode=DIR_MODE)
        os.chmod(d, DIR_MODE)
    if stat.S_IMODE(p.stat().st_mode) != DIR_MODE:
        os.chmod(p, DIR_MODE)
    return p


def write_private(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically as a 0600 file in a 0700 folder."""
    p = Path(path)
    folder = private_dir(p.parent)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=p.name + ".")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's mode already; said here, not assumed
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform that cannot open folders (Windows): rename is enough
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "write_private"]
