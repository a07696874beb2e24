"""Writing output files whole or not at all."""
from __future__ import annotations

import os
import tempfile
from typing import Union


def write_file_atomic(path: Union[str, os.PathLike], data: Union[bytes, str]) -> None:
    """Write to a temporary file in the same directory, then rename over
    ``path``: readers never see a half-written file."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"output directory does not exist: {directory}")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    handle, tmp_path = tempfile.mkstemp(prefix=".tmp_", suffix=os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(raw)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes it private; use the usual mode
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
