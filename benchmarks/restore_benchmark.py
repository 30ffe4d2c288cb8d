# -*- coding: utf-8 -*-
"""Benchmark papermerge_restore against Papermerge 2.1.5's own `manage.py restore`.

Uses the instances backup_benchmark.py builds (and caches):
  pdfs: 1,000 one-version documents with ~340 KB PDFs (~340 MB), all four sidecars per page;
  text: 10,000 documents with small PDFs and OCR text sidecars.
For each, it makes our archive (papermerge_backup's logic) and, for `manage`, Papermerge's own archive, then
restores each into a fresh migrated SQLite instance, one after the other:
  ours    the collection's restore logic (module_utils.restore.restore) in the Papermerge venv's Python,
  manage  Papermerge's own `manage.py restore` of its own archive,
and prints wall time and peak RSS side by side with the targets of issue 4 (ours at least 10x faster than
manage.py restore on pdfs; peak RSS under 100 MB on text).  Instance creation and migration are not timed.

    .venv/bin/python benchmarks/restore_benchmark.py                  # both scenarios, manage only on pdfs
    .venv/bin/python benchmarks/restore_benchmark.py --scale 0.1      # a tenth of the sizes
    .venv/bin/python benchmarks/restore_benchmark.py --only text --skip-manage
"""

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from backup_benchmark import OURS as OURS_BACKUP, REPO, SCENARIOS, build, measure, warm_up  # noqa: E402
from papermerge_host import build_papermerge_venv, create_instance  # noqa: E402

TARGETS = {
    'pdfs': 'ours >= 10x faster than manage.py restore',
    'text': 'peak RSS < 100 MB',
}

OURS_RESTORE = r"""
import json, sys
from ansible_collections.papermerge.backup.plugins.module_utils.instance import resolve_instance
from ansible_collections.papermerge.backup.plugins.module_utils.restore import installed_papermerge_version, restore
instance = resolve_instance(sys.argv[1])
result = restore(instance, sys.argv[2], instance_version=installed_papermerge_version(instance))
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


def fresh_target(work_dir, venv, name):
    base = work_dir / 'restore-targets' / name
    if base.exists():
        shutil.rmtree(str(base))
    return create_instance(base, venv)


def settle():
    # The archive and the target were just written: let writeback finish so that it does not compete with
    # the restore being timed (a real restore reads an archive that has been sitting on disk).
    os.sync()
    time.sleep(1)


def run_ours(target, archive):
    settle()
    argv = [target.python, '-c', OURS_RESTORE, target.project_dir, archive]
    seconds, rss, _cpu, stdout = measure(argv, target.base_dir, collection_env(target))
    counts = json.loads(stdout.strip().splitlines()[-1])
    return seconds, rss, counts


def run_manage(target, archive):
    settle()
    argv = [target.python, 'manage.py', 'restore', str(archive)]
    seconds, rss, _cpu, _stdout = measure(argv, target.project_dir, target.environment())
    return seconds, rss, None


def report(name, documents, rows):
    print('\n%s: %d documents' % (name, documents))
    print('  %-8s %9s %12s %12s' % ('tool', 'time s', 'peak RSS MB', 'time/ours'))
    ours = rows['ours'][0]
    for tool, (seconds, rss, _counts) in rows.items():
        print('  %-8s %9.2f %12.1f %12.2f' % (tool, seconds, rss, seconds / ours))
    if 'manage' in rows:
        print('  manage.py restore / ours: %.1fx; target: %s' % (rows['manage'][0] / ours, TARGETS.get(name, '-')))
    else:
        print('  target: %s' % TARGETS.get(name, '-'))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=float, default=1.0, help='fraction of the full document counts')
    parser.add_argument('--only', choices=sorted(SCENARIOS), action='append', help='run only these scenarios')
    parser.add_argument('--skip-manage', action='store_true', help="leave out Papermerge's own restore")
    parser.add_argument('--manage-on-text', action='store_true',
                        help="also run Papermerge's own restore on the text scenario (slow: minutes)")
    parser.add_argument('--work-dir', type=Path,
                        default=Path.home() / '.cache' / 'papermerge-backup-tests' / 'benchmark')
    options = parser.parse_args(argv)
    venv = build_papermerge_venv()
    out_dir = options.work_dir / 'restore-out'
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in options.only or sorted(TARGETS):
        spec = SCENARIOS[name]  # (documents, then whatever else backup_benchmark's build() takes)
        documents = max(10, int(spec[0] * options.scale))
        source = build(options.work_dir, name, documents, *(tuple(spec[1:]) + (venv,)))
        warm_up(source)
        print('%s: %d documents' % (name, documents), flush=True)
        rows = {}
        archive = make_our_archive(source, out_dir)
        target = fresh_target(options.work_dir, venv, name + '-ours')
        rows['ours'] = run_ours(target, archive)
        print('  ours restored %s' % json.dumps(rows['ours'][2]), flush=True)
        shutil.rmtree(str(target.base_dir))
        archive.unlink()
        Path(str(archive) + '.sha256').unlink()
        if not options.skip_manage and (name == 'pdfs' or options.manage_on_text):
            own = make_own_archive(source, out_dir)
            target = fresh_target(options.work_dir, venv, name + '-manage')
            started = time.time()
            rows['manage'] = run_manage(target, own)
            print('  manage.py restore took %.1f s' % (time.time() - started), flush=True)
            shutil.rmtree(str(target.base_dir))
            own.unlink()
        report(name, documents, rows)


if __name__ == '__main__':
    main(sys.argv[1:])
