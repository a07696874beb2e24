"""The arena the real TFLM interpreter allocates, to check the planned peak RAM against."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import Union


@contextlib.contextmanager
def capture_c_output():
    """Capture what C code writes to file descriptors 1 and 2 (TFLM's MicroPrintf uses stderr)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as capture:
        result: dict[str, str] = {}
        for fd in (1, 2):
            os.dup2(capture.fileno(), fd)
        try:
            yield result
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            result["text"] = capture.read().decode(errors="replace")


def tflm_arena_report(model: Union[bytes, bytearray, str, os.PathLike], arena_size: int = 1 << 22) -> dict[str, int]:
    """Allocate ``model`` in the real TFLM interpreter and return its arena usage in bytes.

    Keys: ``total``, ``head`` (the non-persistent section: the planned activation buffers and
    scratch buffers — what ``tflite_resources().peak_ram_bytes`` estimates) and ``tail``
    (persistent: interpreter structures, quantisation data). Parsed from TFLM's
    ``RecordingMicroAllocator`` report (``Interpreter.print_allocations``).
    """
    from tflite_micro.python.tflite_micro import runtime

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as handle:
            model = handle.read()
    interpreter = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size)
    with capture_c_output() as captured:
        interpreter.print_allocations()
    text = captured["text"]
    report = {}
    for key in ("total", "head", "tail"):
        match = re.search(rf"Arena allocation {key} (\d+) bytes", text)
        if match is None:
            raise RuntimeError(f"Could not read the TFLM arena '{key}' size from:\n{text}")
        report[key] = int(match.group(1))
    return report
