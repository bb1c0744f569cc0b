"""Batches made on a background thread while the device runs the previous step.

Packing, tokenization and Grain's bookkeeping are Python (about 0.1 s a batch for Multi30k on two
cores); done inline they add to every step. The thread keeps `depth` batches ready, each paired
with the iterator state right after it, so `get_state()` names exactly the next batch the caller
will see: checkpoints stay exact whatever the thread has read ahead.
"""

from __future__ import annotations

import copy
import queue
import threading
from typing import Any, Iterator

_END = object()


class Prefetch:
    """Wraps a Grain dataset iterator (with get_state/set_state); call `set_state` before `next`."""

    def __init__(self, it: Any, depth: int = 2):
        self._it, self._depth = it, depth
        self._state = it.get_state()
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self, q: queue.Queue) -> None:
        try:
            while not self._stop.is_set():
                batch = next(self._it)
                item = (batch, copy.deepcopy(self._it.get_state()))
                while not self._stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except StopIteration:
            q.put(_END)
        except BaseException as e:  # handed to the consumer, raised there
            q.put(e)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._queue is None:
            self._queue = queue.Queue(self._depth)
            self._thread = threading.Thread(target=self._run, args=(self._queue,), daemon=True, name="prefetch")
            self._thread.start()
        item = self._queue.get()
        if item is _END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        batch, self._state = item
        return batch

    def get_state(self) -> Any:
        """The state after the last batch returned (not after what the thread read ahead)."""
        return self._state

    def set_state(self, state: Any) -> None:
        if self._queue is not None:
            raise RuntimeError("set_state after iteration started")
        self._it.set_state(state)
        self._state = self._it.get_state()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():  # drain so a blocked put can see the stop flag
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
