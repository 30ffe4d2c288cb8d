"""What the fault-injection suite does to a backup or a restore, and how it tells that nothing was lost.

Runs: tests/faults/drive.py runs the modules' code in the Papermerge venv's Python, each run with a private
TMPDIR (whatever it leaves there is a leftover).  A run is stopped exactly at a phase boundary through the test
seam (PAPERMERGE_BACKUP_TEST_STOP_AT, plugins/module_utils/phases.py: the process stops itself, the test sees
it stopped in /proc), or killed after a random delay.

Checks after each fault and the run after it:
- snapshot(): every row of every table (SQLite, read directly) and the sha256 of every media file; it must
  equal the instance before the run or the archive restored (References), nothing in between;
- bytes_lost(): bytes of the media files the matching reference has that are missing or differ (must be 0);
- leftovers(): anything but docs/, sidecars/ and the instance lock in the media root, anything but archives,
  checksum files and the directory lock in a backup directory, anything in the run's TMPDIR, any file beside
  the SQLite database but its rollback journal (must be none); a commit token row left in django_session
  makes the rows differ from the references.
"""

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SEED = int(os.environ.get('PAPERMERGE_FAULTS_SEED', '20261201'))
HERE = Path(__file__).resolve().parent
DRIVER = HERE / 'drive.py'
STOP_VARIABLE = 'PAPERMERGE_BACKUP_TEST_STOP_AT'
INSTANCE_LOCK = '.papermerge-backup-instance.lock'
DIRECTORY_LOCK = '.papermerge-backup.lock'
MEDIA_ENTRIES = ('docs', 'sidecars', INSTANCE_LOCK)
RESTORE_PHASES = ('restore:locked', 'restore:recovered', 'restore:staged', 'restore:planned', 'restore:journaled',
                  'restore:rows', 'restore:moved', 'restore:flushed', 'restore:committed', 'restore:finished')
BACKUP_PHASES = ('backup:locked', 'backup:snapshot', 'backup:planned', 'backup:written', 'backup:renamed')


class Run:
    """One driver process: backup, restore or archive_info with params; stop_at names a phase to stop at."""

    def __init__(self, python, kind, params, tmpdir, stop_at=None, check=False, memory_mb=None):
        env = {key: value for key, value in os.environ.items()
               if not key.startswith('PAPERMERGE') and key not in ('PYTHONPATH', 'VIRTUAL_ENV')}
        env.update(TMPDIR=str(tmpdir), LC_ALL='C.UTF-8', PYTHONDONTWRITEBYTECODE='1')
        if stop_at:
            env[STOP_VARIABLE] = stop_at
        argv = [str(python), str(DRIVER), kind] + (['--check'] if check else [])
        argv += ['--memory-mb', str(memory_mb)] if memory_mb else []
        self.started = time.monotonic()
        with tempfile.TemporaryFile('w+') as stdin:  # the parameters, which may hold a password
            stdin.write(json.dumps(params))
            stdin.seek(0)
            self.process = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=env, text=True, cwd=str(tmpdir))
        self.killed = False

    @property
    def pid(self):
        return self.process.pid

    def stopped(self):
        try:
            with open('/proc/%d/stat' % self.pid) as handle:
                return handle.read().rsplit(')', 1)[1].split()[0] == 'T'
        except OSError:
            return False

    def wait_stopped(self, timeout=120):
        """Wait until the run stopped itself at its phase; AssertionError if it ended without reaching it."""
        deadline = time.monotonic() + timeout
        while not self.stopped():
            if self.process.poll() is not None:
                raise AssertionError('the run ended without reaching its phase: %s' % self.result())
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError('the run did not reach its phase in %d s' % timeout)
            time.sleep(0.02)
        return self

    def kill(self):
        """SIGKILL; True when the process was still running (a kill, not the end of a finished run)."""
        self.killed = self.process.poll() is None
        if self.killed:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
        return self.killed

    def go_on(self):
        os.kill(self.pid, signal.SIGCONT)
        return self

    def result(self, timeout=600):
        out, err = self.process.communicate(timeout=timeout)
        self.seconds = time.monotonic() - self.started
        try:
            return json.loads(out)
        except ValueError:
            raise AssertionError('the run (exit %s) printed no result:\n%s\n%s'
                                 % (self.process.returncode, out[-3000:], err[-5000:]))


def run(python, kind, params, tmpdir, check=False):
    return Run(python, kind, params, tmpdir, check=check).result()


# -- what an instance holds -----------------------------------------------------------------------------
def database_rows(instance):
    """{table: sorted rows} of every table of a SQLite instance, read without Papermerge."""
    connection = sqlite3.connect('file:%s?mode=ro' % instance.sqlite_file, uri=True)
    try:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return dict((table, sorted(repr(row) for row in connection.execute('SELECT * FROM "%s"' % table)))
                    for table in tables)
    finally:
        connection.close()


def media_files(media_root):
    """{relative path: (size, sha256)} of every file below docs/ and sidecars/."""
    found = {}
    for top in ('docs', 'sidecars'):
        for directory, _dirs, names in os.walk(os.path.join(str(media_root), top)):
            for name in names:
                path = os.path.join(directory, name)
                with open(path, 'rb') as handle:
                    data = handle.read()
                found[os.path.relpath(path, str(media_root))] = (len(data), hashlib.sha256(data).hexdigest())
    return found


def snapshot(instance):
    return dict(rows=database_rows(instance), files=media_files(instance.media_root))


class References:
    """The snapshots a faulted instance may end in: named, e.g. 'before' and 'restored'."""

    def __init__(self, **snapshots):
        self.snapshots = snapshots

    def match(self, found):
        """The name of the reference whose rows found has, or None."""
        for name, reference in self.snapshots.items():
            if reference['rows'] == found['rows']:
                return name
        return None

    def bytes_lost(self, found, name):
        """Bytes of the reference's media files that found lacks or holds with other content."""
        files = self.snapshots[name or 'restored']['files']
        return sum(size for path, (size, digest) in files.items() if found['files'].get(path) != (size, digest))

    def extra_files(self, found, name):
        reference = self.snapshots[name or 'restored']['files']
        return sorted(path for path in found['files'] if path not in reference)


def leftovers(instance=None, tmpdirs=(), dest=None):
    """Everything a run may leave behind that it must not."""
    found = []
    if instance is not None:
        found += ['media root: %s' % name for name in sorted(os.listdir(str(instance.media_root)))
                  if name not in MEDIA_ENTRIES]
        db_dir = Path(instance.database['dir']) if instance.engine == 'sqlite' else None
        if db_dir is not None:
            # A killed SQLite writer's rollback journal is SQLite's own: the next reader rolls it back when it
            # is hot, the next write transaction reuses it; it never holds a commit.
            found += ['database dir: %s' % name for name in sorted(os.listdir(str(db_dir)))
                      if name not in ('db.sqlite3', 'db.sqlite3-journal')]
    for tmpdir in tmpdirs:
        found += ['TMPDIR: %s' % name for name in sorted(os.listdir(str(tmpdir)))]
    if dest is not None:
        found += ['backup dir: %s' % name for name in sorted(os.listdir(str(dest)))
                  if not (name.startswith('papermerge-') and name.endswith(('.tar.gz', '.tar.gz.sha256')))
                  and name != DIRECTORY_LOCK]
    return found


def complete_archives(dest):
    """Archives in dest each with a checksum file that matches it, or AssertionError."""
    archives = sorted(p for p in Path(dest).iterdir() if p.name.endswith('.tar.gz'))
    for archive in archives:
        checksum = Path(str(archive) + '.sha256')
        assert checksum.exists(), 'archive %s has no checksum file' % archive.name
        with open(str(archive), 'rb') as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        assert checksum.read_text().split()[0] == digest, 'archive %s does not match its checksum' % archive.name
    return archives


class Figures:
    """The suite's one line of figures (docs/reliability.md quotes it)."""

    KEYS = ('kills', 'faults', 'concurrent pairs', 'bytes lost', 'leftovers')

    def __init__(self, seed):
        self.seed = seed
        self.counts = dict((key, 0) for key in self.KEYS)
        self.started = time.monotonic()

    def add(self, key, amount=1):
        self.counts[key] += amount

    def line(self):
        return 'fault suite (seed %d): %s; %.0f s' % (
            self.seed, ', '.join('%s %d' % (key, self.counts[key]) for key in self.KEYS),
            time.monotonic() - self.started)


def python_of(venv):
    return Path(venv) / 'bin' / 'python'


def randomness(name):
    """A random generator for one test: the suite's seed and the test's name, so that each test draws the same
    numbers however the suite is run (one test, -k, all)."""
    return random.Random('%d %s' % (SEED, name))


def mount_tmpfs(path, size):
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0755' % size, 'tmpfs', str(path)], check=True)


def unmount(path):
    subprocess.run(['umount', str(path)], check=True)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='mounting a filesystem needs root')
