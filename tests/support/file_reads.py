"""How many times a run read a file, measured with strace.

``traced(log)`` is a command prefix: strace follows every process the command starts (forks,
threads, Ansible's async daemons) and logs each successful read with the path behind its file
descriptor (``-y``).  ``bytes_read(log, path)`` adds up the bytes read from ``path``, so
``bytes_read(...) / size`` says how many times the file went through memory, whichever process
read it and however it chunked its reads.  Neither access times nor inotify are involved.
"""

import re
import shutil

_READS = 'read,pread64,readv,preadv,preadv2'
# "<pid> read(<fd></path>, ..., <size>) = <bytes>", or a read another thread interrupted:
# "<pid> read(<fd></path>, <unfinished ...>" ... "<pid> <... read resumed>..., <size>) = <bytes>".
_COMPLETE = re.compile(r'^(\d+)\s+p?readv?2?(?:64)?\(\d+<(.*?)>,.*\)\s+=\s+(\d+)')
_UNFINISHED = re.compile(r'^(\d+)\s+p?readv?2?(?:64)?\(\d+<(.*?)>,.*<unfinished \.\.\.>$')
_RESUMED = re.compile(r'^(\d+)\s+<\.\.\. p?readv?2?(?:64)? resumed>.*\)\s+=\s+(\d+)')


def traced(log):
    """The argv prefix that runs a command under strace, logging its reads to ``log``."""
    strace = shutil.which('strace')
    if strace is None:
        raise RuntimeError('strace is missing: apt-get install strace (scripts/install-system-deps.sh)')
    return [strace, '-f', '-qq', '-y', '-s', '0', '--seccomp-bpf', '-e', 'trace=' + _READS,
            '-e', 'signal=none', '-e', 'status=successful,unfinished', '-o', str(log)]


def bytes_read(log, path):
    """Bytes that the traced processes read from ``path``."""
    path = str(path)
    total = 0
    pending = {}
    with open(str(log), encoding='utf-8', errors='replace') as lines:
        for line in lines:
            line = line.rstrip('\n')
            match = _UNFINISHED.match(line)
            if match:
                pending[match.group(1)] = match.group(2)
                continue
            match = _COMPLETE.match(line)
            if match:
                total += int(match.group(3)) if match.group(2) == path else 0
                continue
            match = _RESUMED.match(line)
            if match and pending.pop(match.group(1), None) == path:
                total += int(match.group(2))
    return total
