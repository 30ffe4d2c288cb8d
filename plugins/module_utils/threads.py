# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Work handed to a thread of its own through a bounded queue, for speed: zlib, hashlib and file I/O release
the GIL, so the calling thread goes on while the other one works.

Both directions have the same rules: at most `depth` items wait (memory stays flat), the first error is stored
and raised in the calling thread, and neither side can be left blocked on the queue after an error or a stop.
- BackgroundWorker: the caller put()s items, the thread handles them (writing the archive, staging files).
- ReadAhead: the thread produces items from an iterable, the caller get()s them (inflating the archive).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import queue
import threading

_END = object()
_POLL_SECONDS = 0.1


def _start(target, name):
    thread = threading.Thread(target=target, name=name)
    thread.daemon = True  # a failing module must still exit
    thread.start()
    return thread


class BackgroundWorker:
    """Calls handle(item) in a thread of its own for every item put(), in order.

    After the first error the thread keeps taking items and drops them, so put() never blocks on a full queue;
    the error is raised by the next put() and by finish().
    """

    def __init__(self, handle, depth, name):
        self.handle = handle
        self.error = None
        self.queue = queue.Queue(depth)
        self.stopped = False
        self.thread = _start(self._run, name)

    def put(self, item):
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def finish(self, report=True):
        """Wait until every item put so far is handled; raise the first error unless report is false."""
        if not self.stopped:
            self.stopped = True
            self.queue.put(_END)
            self.thread.join()
        if report and self.error is not None:
            raise self.error

    def _run(self):
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if self.error is not None:
                continue
            try:
                self.handle(item)
            except BaseException as error:  # raised in the calling thread
                self.error = error


class _Failure:
    def __init__(self, error):
        self.error = error


class ReadAhead:
    """Iterates over source in a thread of its own, at most depth items ahead of the caller's get().

    get() returns the next item, None at the end, and raises what iterating raised.  close() stops the thread
    even when the caller stopped reading early (the thread then drops what it would have handed over).
    """

    def __init__(self, source, depth, name):
        self.source = source
        self.queue = queue.Queue(depth)
        self.stopping = threading.Event()
        self.finished = False
        self.thread = _start(self._run, name)

    def get(self):
        if self.finished:
            return None
        item = self.queue.get()
        if item is _END or isinstance(item, _Failure):
            self.finished = True
        if isinstance(item, _Failure):
            raise item.error
        return None if item is _END else item

    def close(self):
        self.stopping.set()
        self.thread.join()

    def _run(self):
        try:
            for item in self.source:
                if self.stopping.is_set():
                    return
                self._offer(item)
            self._offer(_END)
        except BaseException as error:  # raised in the calling thread
            self._offer(_Failure(error))

    def _offer(self, item):
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue
