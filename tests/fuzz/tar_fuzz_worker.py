"""The fuzz's worker: runs archive_info(path, verify=True) on each archive it is sent, under a memory limit.

One process serves many cases (starting one per case would cost most of the fuzz's time).  It reads one JSON
object per line on stdin, {"seed": ..., "path": ...}, and answers with one per line on stdout:

  outcome     "refused" (PapermergeBackupError), "result" (archive_info returned) or "crash" (anything else,
              MemoryError included), with message, member, archive and the traceback of a crash;
  peak_rss    the case's peak resident memory in bytes (the process's peak is reset before each case);
  listings    for a result: the archive's members as tar_reader and as tarfile read them, for the driver to
              compare, and counts, archive_info's counts.

The address space is limited (RLIMIT_AS) to what the process has after its imports and a first case, plus
--headroom-mb: a reader whose memory grows with what a header claims fails here with MemoryError instead of
taking the machine.  --without-checks takes tar_reader's number door and length check away (plain int(), no
check, as the reader was before issue 10), so that the fuzz's own test can show that it catches that reader.
"""

import argparse
import gzip
import hashlib
import json
import resource
import sys
import tarfile
import time
import traceback

from ansible_collections.papermerge.backup.plugins.module_utils import tar_reader
from ansible_collections.papermerge.backup.plugins.module_utils.archive_info import archive_info
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

CHUNK = 1 << 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--headroom-mb', type=int, default=160)
    parser.add_argument('--warm-up', required=True, help='an archive archive_info accepts, read once before the limit')
    parser.add_argument('--without-checks', action='store_true')
    args = parser.parse_args()
    if args.without_checks:
        take_checks_away()
    run_case({'seed': None, 'path': args.warm_up})
    limit = _status_bytes('VmSize') + args.headroom_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    print(json.dumps({'ready': True, 'address_space_limit': limit}), flush=True)
    for line in sys.stdin:
        print(json.dumps(run_case(json.loads(line))), flush=True)


def take_checks_away():
    def claim(reader, size, _name):
        reader.left, reader.padding = size, -size % tar_reader.BLOCK

    tar_reader._integer = lambda digits, base, what, where, limit: int(digits, base)
    tar_reader.TarReader._claim = claim


def run_case(case):
    answer = {'seed': case['seed']}
    _reset_peak_rss()
    start = time.monotonic()
    try:
        result = archive_info(case['path'], verify=True)
        answer.update(outcome='result', counts=result['counts'])
    except PapermergeBackupError as error:
        answer.update(outcome='refused', message=str(error), member=_text(error.details.get('member')),
                      archive=_text(error.details.get('archive')))
    except BaseException as error:  # MemoryError, a bug's ValueError: all failures of the case
        answer.update(outcome='crash', message='%s: %s' % (type(error).__name__, error),
                      traceback=traceback.format_exc())
    answer['seconds'] = time.monotonic() - start
    answer['peak_rss'] = _status_bytes('VmHWM')
    if answer['outcome'] == 'result':
        try:
            answer['listings'] = {'tar_reader': _tar_reader_listing(case['path']),
                                  'tarfile': _tarfile_listing(case['path'])}
        except BaseException as error:
            answer['listing_error'] = '%s: %s' % (type(error).__name__, error)
    return answer


def _tar_reader_listing(path):
    with gzip.open(path, 'rb') as stream:
        reader = tar_reader.TarReader(stream)
        found = []
        while True:
            header = reader.next()
            if header is None:
                return found
            digest = hashlib.sha256()
            for chunk in reader.chunks(CHUNK):
                digest.update(chunk)
            found.append(_entry(header.name, header.type, header.size, header.linkname, digest))


def _tarfile_listing(path):
    found = []
    # gzip, not tarfile's 'r|gz', which reads only the first of several gzip members.
    with gzip.open(path, 'rb') as stream, tarfile.open(fileobj=stream, mode='r|') as tar:
        for info in tar:
            digest = hashlib.sha256()
            if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
                source = tar.extractfile(info)
                for chunk in iter(lambda: source.read(CHUNK), b''):
                    digest.update(chunk)
            found.append(_entry(info.name, info.type, info.size, info.linkname, digest))
    return found


def _entry(name, kind, size, linkname, digest):
    with_data = kind in tarfile.REGULAR_TYPES or kind not in tarfile.SUPPORTED_TYPES
    return [_normal(name), kind.decode('latin-1'), size if with_data else 0, linkname, digest.hexdigest()]


def _normal(name):
    """The name as a file system sees it: empty and '.' components do not count (nor a directory's slash)."""
    return '/'.join(part for part in name.split('/') if part not in ('', '.'))


def _text(value):
    return value if value is None or isinstance(value, str) else repr(value)


def _reset_peak_rss():
    with open('/proc/self/clear_refs', 'w') as handle:
        handle.write('5')


def _status_bytes(key):
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no %s in /proc/self/status' % key)


if __name__ == '__main__':
    main()
