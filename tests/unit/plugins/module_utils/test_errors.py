"""Every failure ends in a message that says what to do (errors.explained), an empty MemoryError included."""

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError, explained


def test_a_memory_error_says_what_happened_and_what_to_do():
    with pytest.raises(PapermergeBackupError) as raised:
        with explained('restore'):
            raise MemoryError()
    assert str(raised.value).startswith('the restore ran out of memory (MemoryError): give it more memory')
    assert 'rolled back' in str(raised.value)
    assert 'MemoryError' in raised.value.details['exception']  # the traceback, shown at -vvv


def test_any_other_exception_is_named_and_called_a_bug():
    with pytest.raises(PapermergeBackupError) as raised:
        with explained('backup'):
            {}['missing']
    assert "the backup failed unexpectedly (KeyError: 'missing')" in str(raised.value)
    assert 'report it' in str(raised.value) and 'KeyError' in raised.value.details['exception']


def test_our_own_errors_and_interruptions_pass_unchanged():
    original = PapermergeBackupError('archive x is damaged', archive='x')
    with pytest.raises(PapermergeBackupError) as raised:
        with explained('restore'):
            raise original
    assert raised.value is original
    with pytest.raises(KeyboardInterrupt):
        with explained('restore'):
            raise KeyboardInterrupt()


def test_a_thread_that_cannot_start_is_out_of_memory_too():
    with pytest.raises(PapermergeBackupError, match=r"^the backup ran out of memory \(RuntimeError: can't start"):
        with explained('backup'):
            raise RuntimeError("can't start new thread")
    with pytest.raises(PapermergeBackupError, match=r'failed unexpectedly \(RuntimeError: dictionary changed'):
        with explained('backup'):
            raise RuntimeError('dictionary changed size during iteration')
