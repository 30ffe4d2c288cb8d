"""Run papermerge_backup's, papermerge_restore's or papermerge_archive_info's code the way the module does,
without Ansible around it.

Runs with the Papermerge venv's Python (as the modules do on a host), the collection imported from this
checkout.  The module's parameters come as JSON on stdin; the result (or {"failed": true, "msg": ...}, as
fail_json reports it) goes to stdout as JSON.  The fault suite starts hundreds of runs: without
ansible-playbook around each, one costs a Python start instead of three.

    drive.py backup|restore|archive_info [--check] [--memory-mb N] < params.json

--memory-mb N: once everything is imported, limit the address space to what the process uses plus N MiB
(RLIMIT_AS), to run out of memory in the modules' own code.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, '.cache', 'collections'))

from ansible_collections.papermerge.backup.plugins.module_utils.archive_info import archive_info  # noqa: E402
from ansible_collections.papermerge.backup.plugins.module_utils.backup import run_backup  # noqa: E402
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError  # noqa: E402
from ansible_collections.papermerge.backup.plugins.module_utils.restore import run_restore  # noqa: E402

RUNS = {
    'backup': run_backup,
    'restore': run_restore,
    'archive_info': lambda params, check_mode: archive_info(params['path'], verify=params.get('verify', True)),
}


def limit_memory(extra_mb):
    import resource
    with open('/proc/self/status') as status:
        size_kb = [int(line.split()[1]) for line in status if line.startswith('VmSize:')][0]
    limit = (size_kb + extra_mb * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main():
    params = json.load(sys.stdin)
    check_mode = '--check' in sys.argv[2:]
    if '--memory-mb' in sys.argv:
        limit_memory(int(sys.argv[sys.argv.index('--memory-mb') + 1]))
    try:
        result = RUNS[sys.argv[1]](params, check_mode=check_mode)
        result.setdefault('failed', False)
    except PapermergeBackupError as error:
        result = dict(error.details, failed=True, msg=str(error))
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
