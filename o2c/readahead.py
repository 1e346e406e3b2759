"""Reading ahead in a thread: the one mechanism the bulk imports use to overlap Python and Postgres.

A reader thread walks the input (parsing a CSV, walking XML: Python, holding the GIL) a few items ahead of the
caller, who stores the previous ones (Postgres, during which psycopg releases the GIL), so the two run on two
cores. The queue is short, so a refused file is not parsed far ahead of the writer and memory holds a few items,
not the file. An exception raised by the reader comes out of the caller's loop, in order; leaving the block
(done, or the writer failed) stops the reader at its next item.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

_DONE = object()


class ReadAhead:
    """`with ReadAhead(items, prepare, name=...) as ready: for item in ready: ...` yields prepare(item) for each
    item, computed in the reader thread."""

    def __init__(self, items: Iterable, prepare: Callable | None = None, *, depth: int = 2,
                 name: str = "read-ahead"):
        self._items, self._prepare = items, prepare
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            prepare = self._prepare
            for item in self._items:
                if not self._put((prepare(item) if prepare else item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which re-raises it
            self._put((_DONE, exc))
            return
        self._put((_DONE, None))

    def __enter__(self) -> Iterator:
        self._thread.start()
        return self._ready()

    def _ready(self) -> Iterator:
        while True:
            item, exc = self._queue.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
