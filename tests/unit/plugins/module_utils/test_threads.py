"""The thread helpers behind the archive writer, the stager and the inflater: order, errors, never stuck."""

import threading

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.threads import BackgroundWorker, ReadAhead


def test_worker_handles_every_item_in_order_in_another_thread():
    seen, threads = [], set()

    def handle(item):
        seen.append(item)
        threads.add(threading.current_thread().name)

    worker = BackgroundWorker(handle, 2, 'test-worker')
    for number in range(100):
        worker.put(number)
    worker.finish()
    assert seen == list(range(100))
    assert threads == {'test-worker'}


def test_worker_raises_the_first_error_in_the_caller_and_never_blocks_it():
    handled = []

    def handle(item):
        handled.append(item)
        raise OSError('disk full at %d' % item)

    worker = BackgroundWorker(handle, 2, 'test-worker')
    with pytest.raises(OSError, match='disk full at 0'):
        for number in range(100):  # far more than the queue holds: put() must not block forever
            worker.put(number)
        worker.finish()
    with pytest.raises(OSError, match='disk full at 0'):
        worker.finish()
    worker.finish(report=False)
    assert handled == [0]  # what came after the error was dropped


def test_read_ahead_hands_over_every_item_then_none():
    ahead = ReadAhead(iter(range(50)), 3, 'test-ahead')
    items = []
    while True:
        item = ahead.get()
        if item is None:
            break
        items.append(item)
    ahead.close()
    assert items == list(range(50))
    assert ahead.get() is None


def test_read_ahead_raises_the_source_error_after_what_came_before():
    def source():
        yield b'first'
        raise EOFError('cut off')

    ahead = ReadAhead(source(), 3, 'test-ahead')
    assert ahead.get() == b'first'
    with pytest.raises(EOFError, match='cut off'):
        ahead.get()
    assert ahead.get() is None
    ahead.close()


def test_read_ahead_stops_a_producer_the_caller_no_longer_reads():
    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield len(produced)

    ahead = ReadAhead(endless(), 2, 'test-ahead')
    assert ahead.get() == 1
    ahead.close()  # returns although the queue is full and the source never ends
    stopped_at = len(produced)
    assert stopped_at < 10 and len(produced) == stopped_at
