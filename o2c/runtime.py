"""Interpreter settings for the bulk work that runs a Python thread next to a thread waiting on Postgres
(matching runs, bank-file imports)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from contextlib import contextmanager

SWITCH_INTERVAL = float(os.environ.get("O2C_RUN_SWITCH_INTERVAL", "0.0005"))  # seconds; CPython's default 0.005

_tuning_lock = threading.Lock()
_tuned_runs = 0
_untuned: tuple[bool, float] = (True, 0.005)


@contextmanager
def interpreter_tuned_for_bulk_work():
    """Two process-wide settings for as long as any matching run or bank-file import of this process lasts
    (several may, in threads), handed back when the last one ends.

    - The automatic cyclic collector is off, and runs collect nothing by hand either (the matcher makes no
      cycles): the index is a million long-lived objects the run only reads, and collections triggered by
      the chunks' garbage walked all of them (4 s of a 100k run, plus 2.5 s of young collections).
      Freezing them instead made full collections five times more frequent.
    - A 0.5 ms GIL switch interval (CPython's default is 5 ms): the writer thread gives up the GIL at every
      round trip to Postgres and then waited up to the interval for the matcher thread to hand it back,
      seconds in all, on the run's critical path."""
    global _tuned_runs, _untuned
    with _tuning_lock:
        if _tuned_runs == 0:
            _untuned = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _tuned_runs += 1
    try:
        yield
    finally:
        with _tuning_lock:
            _tuned_runs -= 1
            if _tuned_runs == 0:
                collecting, interval = _untuned
                if collecting:
                    gc.enable()
                sys.setswitchinterval(interval)
