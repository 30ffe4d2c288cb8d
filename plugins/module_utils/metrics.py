# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""The Prometheus textfile that node_exporter's textfile collector reads: how backups and drills went, per label.

One file holds every label's series (several hosts may share a metrics host and file), so an update reads the
file, replaces this label's values and writes the whole file again: under an exclusive lock on the directory
(two hosts updating at once lose nothing), to a temporary file in the same directory, fsynced, mode 0644, then
renamed over the old one (node_exporter never reads half a file).  Only numbers and labels go in: no paths, no
messages, nothing secret.  Stdlib only: it runs with any Python, a container's included.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import math
import os
import re
import tempfile
import time

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.naming import validate_label

PREFIX = "papermerge_backup_"
FILE_MODE = 0o644

# Every series this file holds, in the order it is written, with its help text; all are gauges.
SERIES = (
    ("last_run_success", "Whether the last backup run succeeded (1) or failed (0)."),
    ("last_run_timestamp_seconds", "When the last backup run ended, successful or not (Unix time)."),
    ("last_success_timestamp_seconds", "When the last successful backup run ended (Unix time)."),
    ("duration_seconds", "How long the last successful backup run took (archive, copies, checks, rotation)."),
    ("archive_size_bytes", "Size of the archive of the last successful backup run."),
    ("documents", "Documents in the archive of the last successful backup run."),
    ("files", "Files (documents and sidecars) in the archive of the last successful backup run."),
    ("last_drill_run_success", "Whether the last restore drill passed (1) or failed (0)."),
    ("last_drill_run_timestamp_seconds", "When the last restore drill ended, passed or not (Unix time)."),
    ("last_drill_success_timestamp_seconds", "When the last restore drill that passed ended (Unix time)."),
    ("drill_restore_duration_seconds",
     "Recovery time measured by the last drill that passed: migrating an empty instance and restoring the archive."),
)
SERIES_NAMES = tuple(PREFIX + name for name, _help in SERIES)

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{label="(?P<label>[A-Za-z0-9._-]+)"\} (?P<value>\S+)$')


def update_metrics(path, label, kind, success, values=None, check_mode=False, now=None):
    """Record one backup or drill run of label in the textfile at path; returns the module's result dict.

    kind: "backup" or "drill".  values: the measurements of a successful run (backup: duration_seconds,
    archive_size_bytes, documents, files; drill: drill_restore_duration_seconds); a failed run changes only
    the run's success and time, so the last success keeps its time and measurements.
    """
    validate_label(label)
    directory = _check_path(path)
    now = time.time() if now is None else now
    with _DirectoryLock(directory, check_mode):
        previous, warnings = read_samples(path)
        samples = record_run(previous, label, kind, success, values or {}, now)
        text = render(samples)
        changed = text != _read_text(path)
        if changed and not check_mode:
            write_atomically(path, text)
    return dict(changed=changed, path=path, label=label, series=_series_of(samples, label), warnings=warnings)


def record_run(samples, label, kind, success, values, now):
    """A copy of samples ({(series, label): value}) with one run of label recorded."""
    if kind not in ("backup", "drill"):
        raise PapermergeBackupError("kind must be backup or drill, not %r" % (kind,))
    samples = dict(samples)
    run = "last_run" if kind == "backup" else "last_drill_run"
    success_time = "last_success_timestamp_seconds" if kind == "backup" else "last_drill_success_timestamp_seconds"
    _set(samples, run + "_success", label, 1 if success else 0)
    _set(samples, run + "_timestamp_seconds", label, now)
    if success:
        _set(samples, success_time, label, now)
        for name, value in values.items():
            if value is not None:
                _set(samples, name, label, _number(name, value))
    return samples


def _set(samples, name, label, value):
    if PREFIX + name not in SERIES_NAMES:
        raise PapermergeBackupError("%s%s is not a series of the metrics file" % (PREFIX, name))
    samples[(PREFIX + name, label)] = value


def _number(name, value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PapermergeBackupError("%s%s must be a number, not %r" % (PREFIX, name, value))
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise PapermergeBackupError("%s%s must be a finite number of zero or more, not %r" % (PREFIX, name, value))
    return number


def read_samples(path):
    """({(series, label): value}, warnings) from an existing metrics file; an empty dict when there is none.

    Only our own series are kept.  A line that is not ours or not in our format makes the whole file
    untrustworthy: it is started afresh, with a warning, rather than half-read.
    """
    text = _read_text(path)
    if text is None:
        return {}, []
    samples = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        sample = _parse_sample(line)
        if sample is None:
            return {}, ["%s line %d is not a sample this collection writes (%r): the file was started afresh, so "
                        "the times of earlier successes in it are lost" % (path, number, line[:120])]
        samples[sample[0]] = sample[1]
    return samples, []


def _parse_sample(line):
    match = _SAMPLE.match(line)
    if not match or match.group("name") not in SERIES_NAMES:
        return None
    try:
        value = float(match.group("value"))
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return (match.group("name"), match.group("label")), value


def render(samples):
    """The Prometheus text format: HELP and TYPE once per series, then one sample per label, sorted."""
    lines = []
    for (name, help_text), full_name in zip(SERIES, SERIES_NAMES):
        labels = sorted(label for series, label in samples if series == full_name)
        if not labels:
            continue
        lines.append("# HELP %s %s" % (full_name, help_text))
        lines.append("# TYPE %s gauge" % full_name)
        for label in labels:
            lines.append('%s{label="%s"} %s' % (full_name, label, format_value(samples[(full_name, label)])))
    return "\n".join(lines) + "\n" if lines else ""


def format_value(value):
    """Integers without a decimal point, times with millisecond precision (what Prometheus keeps)."""
    if float(value).is_integer():
        return "%d" % value
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _series_of(samples, label):
    return dict((name, samples[(name, label)]) for name in SERIES_NAMES if (name, label) in samples)


def _check_path(path):
    if not os.path.isabs(path):
        raise PapermergeBackupError("the metrics file %s must be an absolute path (node_exporter's textfile "
                                    "directory, e.g. /var/lib/prometheus/node-exporter/papermerge_backup.prom)" % path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise PapermergeBackupError(
            "the directory of the metrics file, %s, does not exist: point papermerge_backup_metrics_file into the "
            "directory node_exporter reads (its --collector.textfile.directory)" % directory)
    if os.path.isdir(path):
        raise PapermergeBackupError("the metrics file %s is a directory: give a file name ending in .prom" % path)
    return directory


def _read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError) as error:
        if error.errno == errno.ENOENT:
            return None
        raise PapermergeBackupError("cannot read the metrics file %s: %s" % (path, error))


def write_atomically(path, text):
    """Write text to path through a temporary file in its directory, fsynced, mode 0644, renamed into place."""
    directory = os.path.dirname(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot write the metrics file in %s: %s (the user running the task must be "
                                    "able to write there)" % (directory, error))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        # node_exporter usually runs as a user of its own: the file must be readable by everybody (it holds
        # numbers only), whatever the umask.
        os.chmod(temporary, FILE_MODE)
        os.rename(temporary, path)
    except (IOError, OSError) as error:
        _remove_quietly(temporary)
        raise PapermergeBackupError("cannot write the metrics file %s: %s" % (path, error))
    _fsync_directory(directory)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is done either way
    finally:
        os.close(fd)


class _DirectoryLock:
    """An exclusive flock on the metrics file's directory for a read-modify-write (nothing is left behind)."""

    def __init__(self, directory, check_mode):
        self.directory = directory
        self.check_mode = check_mode
        self.fd = None

    def __enter__(self):
        if self.check_mode:
            return self
        self.fd = os.open(self.directory, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
        return False
