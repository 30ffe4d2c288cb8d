# -*- coding: utf-8 -*-
"""Benchmark papermerge_restore against Papermerge 2.1.5's own `manage.py restore`.

Uses the instances backup_benchmark.py builds (and caches):
  pdfs: 1,000 one-version documents with ~340 KB PDFs (~340 MB), all four sidecars per page;
  text: 10,000 documents with small PDFs and OCR text sidecars.
For each, it makes our archive (papermerge_backup's logic) and, for `manage`, Papermerge's own archive, then
restores each into a fresh migrated SQLite instance, taking turns, --runs times:
  ours    the collection's restore logic (module_utils.restore.run_restore) in the Papermerge venv's Python,
  manage  Papermerge's own `manage.py restore` of its own archive,
and prints wall time and peak RSS side by side with the targets of issue 4 (ours at least 10x faster than
manage.py restore on pdfs; peak RSS under 100 MB on text).  Instance creation and migration are not timed.

Each restore's media root is, by default (as root, with mkfs.ext4), a freshly made ext4 file system with a
journal, as on a usual Papermerge host: an image file, formatted again for each run and mounted on the target's
media root.  Restores write thousands of files, and on a file system without a journal (this development VM's
root) ext4 skips over the inodes freed in the last minutes when it allocates new ones: right after a benchmark
deleted the previous run's 16,000 files, creating as many again took three to nine times longer (`tar xzf` of
the same archive: 1.3 s, then 4-12 s).  --media-fs as-is restores into the instance's own directory instead.

    .venv/bin/python benchmarks/restore_benchmark.py --only pdfs           # the issue-4 speed target
    .venv/bin/python benchmarks/restore_benchmark.py --scale 0.1           # a tenth of the sizes
    .venv/bin/python benchmarks/restore_benchmark.py --only text --skip-manage
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_benchmark import OURS as OURS_BACKUP, REPO, SCENARIOS, build, measure, warm_up  # noqa: E402
from papermerge_host import build_papermerge_venv, clone_instance, create_instance  # noqa: E402

TARGETS = {
    'pdfs': 'ours >= 10x faster than manage.py restore',
    'text': 'peak RSS < 100 MB',
}

OURS_RESTORE = r"""
import json, sys
from ansible_collections.papermerge.backup.plugins.module_utils.restore import run_restore
result = run_restore(dict(project_dir=sys.argv[1], src=sys.argv[2]))
print(json.dumps(result['counts']))
"""


def collection_env(instance):
    env = instance.environment()
    env['PYTHONPATH'] = '%s:%s' % (REPO / '.cache' / 'collections', instance.project_dir)
    return env


def make_our_archive(instance, out_dir):
    argv = [instance.python, '-c', OURS_BACKUP, instance.project_dir, str(out_dir) + '/', '6', 'adaptive']
    seconds, _rss, _cpu, stdout = measure(argv, instance.base_dir, collection_env(instance))
    archive = Path(json.loads(stdout.strip().splitlines()[-1])['archive'])
    print('  our archive: %.1f MB (made in %.1f s)' % (archive.stat().st_size / 1e6, seconds), flush=True)
    return archive


def make_own_archive(instance, out_dir):
    archive = out_dir / 'manage-backup.tar.gz'
    argv = [instance.python, 'manage.py', 'backup', str(archive)]
    seconds, _rss, _cpu, _stdout = measure(argv, instance.project_dir, instance.environment())
    print("  Papermerge's archive: %.1f MB (made in %.1f s)" % (archive.stat().st_size / 1e6, seconds), flush=True)
    return archive


def fresh_target(template, work_dir, name):
    """A migrated, empty instance for one restore (a copy of template)."""
    base = work_dir / 'restore-targets' / name
    if base.exists():
        shutil.rmtree(str(base))
    return clone_instance(template, base)


def can_make_file_systems():
    return hasattr(os, 'geteuid') and os.geteuid() == 0 and shutil.which('mkfs.ext4') and shutil.which('mount')


@contextlib.contextmanager
def media_file_system(target, kind, image):
    """Mount a fresh journaled ext4 (made in the image file) on target's media root, for kind 'fresh-ext4'.

    The image file is made once and formatted again for each run: deleting it and making another would hand its
    page cache back to the hypervisor each time (this VM reports free memory to its host), and the next restore
    would pay to get that memory back.
    """
    if kind != 'fresh-ext4':
        yield
        return
    # Inode tables and journal are written now, so that no background initialisation competes with the restore.
    subprocess.run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', str(image)],
                   check=True)
    subprocess.run(['mount', '-o', 'loop', str(image), str(target.media_root)], check=True)
    try:
        yield
    finally:
        subprocess.run(['umount', str(target.media_root)], check=True)


def settle(archive):
    """Let writeback finish, then read the archive from disk once, as a restore usually finds it.

    The archive and the target were just written: their writeback must not compete with the restore being timed.
    A restore reads an archive that was copied to the host earlier and has been read since (the restore role
    checks its sha256 just before): the archive is dropped from the page cache and read once.  Without that, the
    page cache of an archive only ever written, by the backup moments before, made our restore 0.4 s slower on
    this VM (manage.py restore's times did not change), which says nothing about restores.
    """
    os.sync()
    with open(str(archive), 'rb') as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while handle.read(1024 * 1024):
            pass
    time.sleep(3)


def run_ours(target, archive):
    settle(archive)
    argv = [target.python, '-c', OURS_RESTORE, target.project_dir, archive]
    seconds, rss, _cpu, stdout = measure(argv, target.base_dir, collection_env(target))
    counts = json.loads(stdout.strip().splitlines()[-1])
    return seconds, rss, counts


def run_manage(target, archive):
    settle(archive)
    argv = [target.python, 'manage.py', 'restore', str(archive)]
    seconds, rss, _cpu, _stdout = measure(argv, target.project_dir, target.environment())
    return seconds, rss, None


def timed_restores(template, work_dir, archives, runs, media_fs):
    """{tool: [(seconds, rss, counts)] * runs}, the tools taking turns; each restore into a fresh target."""
    runners = {'ours': run_ours, 'manage': run_manage}
    image = work_dir / 'restore-media.ext4'
    with open(str(image), 'wb') as handle:
        handle.truncate(max(4 << 30, 3 * max(archive.stat().st_size for archive in archives.values())))
    results = dict((tool, []) for tool in archives)
    try:
        for run in range(runs):
            for tool, archive in archives.items():
                target = fresh_target(template, work_dir, tool)
                with media_file_system(target, media_fs, image):
                    results[tool].append(runners[tool](target, archive))
                shutil.rmtree(str(target.base_dir))
                print('  run %d, %s: %.2f s' % (run + 1, tool, results[tool][-1][0]), flush=True)
    finally:
        image.unlink()
    return results


def report(name, documents, results, media_fs):
    print('\n%s: %d documents, media root: %s' % (name, documents, media_fs))
    print('  %-8s %9s %12s %12s  %s' % ('tool', 'time s', 'peak RSS MB', 'time/ours', 'all runs (s)'))
    median = dict((tool, statistics.median(run[0] for run in runs)) for tool, runs in results.items())
    for tool, runs in results.items():
        print('  %-8s %9.2f %12.1f %12.2f  %s' % (tool, median[tool], max(run[1] for run in runs),
                                                  median[tool] / median['ours'],
                                                  ' '.join('%.2f' % run[0] for run in runs)))
    if 'manage' in results:
        print('  manage.py restore / ours (medians): %.1fx; target: %s'
              % (median['manage'] / median['ours'], TARGETS.get(name, '-')))
    else:
        print('  target: %s' % TARGETS.get(name, '-'))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=float, default=1.0, help='fraction of the full document counts')
    parser.add_argument('--only', choices=sorted(SCENARIOS), action='append', help='run only these scenarios')
    parser.add_argument('--runs', type=int, default=3, help='restores per tool, taking turns (median reported)')
    parser.add_argument('--skip-manage', action='store_true', help="leave out Papermerge's own restore")
    parser.add_argument('--manage-on-text', action='store_true',
                        help="also run Papermerge's own restore on the text scenario (slow: minutes)")
    parser.add_argument('--media-fs', choices=['fresh-ext4', 'as-is'],
                        default='fresh-ext4' if can_make_file_systems() else 'as-is',
                        help='fresh-ext4 (default as root): each restore into a new journaled ext4 file system')
    parser.add_argument('--work-dir', type=Path,
                        default=Path.home() / '.cache' / 'papermerge-backup-tests' / 'benchmark')
    options = parser.parse_args(argv)
    venv = build_papermerge_venv()
    out_dir = options.work_dir / 'restore-out'
    out_dir.mkdir(parents=True, exist_ok=True)
    template_dir = options.work_dir / 'restore-template'
    if template_dir.exists():
        shutil.rmtree(str(template_dir))
    template = create_instance(template_dir, venv)
    print('machine: %d cores, load average %.1f' % (len(os.sched_getaffinity(0)), os.getloadavg()[0]), flush=True)
    for name in options.only or sorted(TARGETS):
        spec = SCENARIOS[name]  # (documents, then whatever else backup_benchmark's build() takes)
        documents = max(10, int(spec[0] * options.scale))
        source = build(options.work_dir, name, documents, *(tuple(spec[1:]) + (venv,)))
        warm_up(source)
        print('%s: %d documents' % (name, documents), flush=True)
        archives = {'ours': make_our_archive(source, out_dir)}
        if not options.skip_manage and (name == 'pdfs' or options.manage_on_text):
            archives['manage'] = make_own_archive(source, out_dir)
        results = timed_restores(template, options.work_dir, archives, options.runs, options.media_fs)
        print('  ours restored %s' % json.dumps(results['ours'][-1][2]), flush=True)
        for archive in archives.values():
            archive.unlink()
        Path(str(archives['ours']) + '.sha256').unlink()
        report(name, documents, results, options.media_fs)
    shutil.rmtree(str(template_dir))


if __name__ == '__main__':
    main(sys.argv[1:])
