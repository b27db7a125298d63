"""Run a table-reading generator in a separate Python process and stream back what it yields.

XLSX is parsed by openpyxl in Python: a crafted workbook can hold it for minutes or exhaust memory. In
its own process it can be stopped for certain: when the import's time budget runs out the process is
killed (no cooperation needed) and whatever it allocated dies with it; the web server only waits on a
pipe, so its event loop and other requests carry on. A plain ``python -m`` child (not multiprocessing)
so that no caller's ``__main__`` is ever re-imported.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any


class ReaderFailed(Exception):
    """The reader process ended without a word (killed by the system, out of memory)."""


def run(target: Callable[..., Iterator[Any]], args: tuple[Any, ...], deadline: float,
        on_timeout: Callable[[], Exception]) -> Iterator[Any]:
    """Yield the items ``target(*args)`` yields in the child; ``deadline`` is a time.monotonic() value.
    An exception raised in the child is raised here (it must pickle)."""
    child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
    assert child.stdin is not None and child.stdout is not None
    receive = Connection(os.dup(child.stdout.fileno()), writable=False)
    try:
        child.stdin.write(pickle.dumps((target, args)))
        child.stdin.close()
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not receive.poll(left):
                raise on_timeout()
            try:
                kind, value = receive.recv()
            except EOFError as exc:
                raise ReaderFailed(f"the reader process ended (exit code {child.poll()})") from exc
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
        receive.close()
        child.stdout.close()


def _main() -> None:
    out = Connection(os.dup(1), readable=False)
    sys.stdout = sys.stderr  # nothing else may write into the pipe
    target, args = pickle.loads(sys.stdin.buffer.read())
    try:
        for item in target(*args):
            out.send(("item", item))
        out.send(("done", None))
    except MemoryError:
        out.send(("error", ReaderFailed("reading the file needs more memory than the server has")))
    except Exception as exc:  # noqa: BLE001  (sent back and raised in the parent)
        try:
            out.send(("error", exc))
        except Exception:  # noqa: BLE001  (an exception that does not pickle)
            out.send(("error", ReaderFailed(f"{exc.__class__.__name__}: {str(exc)[:300]}")))
    out.close()


if __name__ == "__main__":
    _main()
