# -*- coding: utf-8 -*-
"""Time tar_reader against tarfile's stream mode on an uncompressed tar of many small members.

tar_reader exists for speed: a backup of tens of thousands of small sidecar files spent most of its restore in
tarfile's per-member overhead.  This reads an in-memory pax archive of --members members (small files, as
sidecars are) with both and prints the best of --runs for each.  --baseline times another version of
tar_reader.py as well, taking turns with this one, so that a change can be measured on a busy machine.

    .venv/bin/python benchmarks/tar_reader_benchmark.py                   # 10,000 members, best of 7
    .venv/bin/python benchmarks/tar_reader_benchmark.py --members 50000
    git show HEAD~1:plugins/module_utils/tar_reader.py > /tmp/old_tar_reader.py
    .venv/bin/python benchmarks/tar_reader_benchmark.py --baseline /tmp/old_tar_reader.py --runs 21
"""

import argparse
import importlib.util
import io
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / '.cache' / 'collections'))

from ansible_collections.papermerge.backup.plugins.module_utils import tar_reader  # noqa: E402

CHUNK_SIZE = 1024 * 1024


def archive(members):
    """A pax archive like a backup's sidecars: long names, a few hundred bytes each."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode='w', format=tarfile.PAX_FORMAT) as tar:
        for number in range(members):
            data = b'<svg>%d</svg>' % number * (number % 40 + 1)
            info = tarfile.TarInfo('sidecars/user_%036d/document_%036d/v1/pages/%06d_ocr.svg'
                                   % (number % 7, number // 3, number))
            info.size, info.mtime = len(data), 1764115200 + number
            tar.addfile(info, io.BytesIO(data))
    return stream.getvalue()


def read_with_tar_reader(raw, module=tar_reader):
    reader = module.TarReader(io.BytesIO(raw))
    total = 0
    while True:
        header = reader.next()
        if header is None:
            return total
        for chunk in reader.chunks(CHUNK_SIZE):
            total += len(chunk)


def read_with_tarfile(raw):
    total = 0
    with tarfile.open(fileobj=io.BytesIO(raw), mode='r|') as tar:
        for info in tar:
            total += len(tar.extractfile(info).read())
    return total


def load_module(path):
    spec = importlib.util.spec_from_file_location('baseline_tar_reader', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_times(readers, raw, runs):
    """The best time of each reader, the readers taking turns so that load from elsewhere hits all alike."""
    times = dict((label, []) for label in readers)
    for _run in range(runs):
        for label, function in readers.items():
            start = time.process_time()
            function(raw)
            times[label].append(time.process_time() - start)
    return dict((label, min(values)) for label, values in times.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--members', type=int, default=10000)
    parser.add_argument('--runs', type=int, default=7)
    parser.add_argument('--baseline', help='another tar_reader.py to time against this one')
    args = parser.parse_args()
    raw = archive(args.members)
    readers = {'tar_reader': read_with_tar_reader, 'tarfile': read_with_tarfile}
    if args.baseline:
        baseline = load_module(args.baseline)
        readers['baseline'] = lambda data: read_with_tar_reader(data, baseline)
    totals = set(function(raw) for function in readers.values())
    assert len(totals) == 1, 'the readers disagree about the data: %r' % totals
    best = best_times(readers, raw, args.runs)
    print('%d members, %.1f MB, best of %d:' % (args.members, len(raw) / 1e6, args.runs))
    for label, seconds in best.items():
        print('  %-10s %.3f s (%.1f us/member)' % (label, seconds, seconds * 1e6 / args.members))
    if args.baseline:
        print('  tar_reader / baseline: %.2f' % (best['tar_reader'] / best['baseline']))


if __name__ == '__main__':
    main()
