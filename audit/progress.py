"""A one-line progress bar for the branch scan, drawn only where a person is watching."""

from __future__ import annotations

from typing import TextIO

# Below this many branches the scan is over before a bar would be worth drawing.
MIN_BRANCHES = 50


class TerminalProgress:
    """`progress(done, total)` callback that draws on `stream` when it is a terminal.

    Nothing is written to a pipe or a file, so `--json` output and logs stay clean.
    """

    def __init__(self, stream: TextIO, *, min_total: int = MIN_BRANCHES, width: int = 30) -> None:
        self._stream = stream
        self._min_total = min_total
        self._width = width
        self._tty = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._tty or total < self._min_total:
            return
        filled = self._width * done // total
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\rscanning branches [{bar}] {done}/{total}")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
