"""Back up a throwaway Papermerge instance with the collection's playbooks and restore it elsewhere.

Steps, each printed as it runs:
1. build two local Papermerge 2.1.5 instances: `source` (migrated, seeded with users, folders,
   documents, versions, tags and sidecars through Papermerge's own ORM) and `target` (bare:
   not even migrated, as on a freshly installed machine);
2. ansible-playbook playbooks/backup.yml against `source`: archive on the host, copy on the
   controller, sha256 verified, rotation;
3. show the archive: its first members and one user's folder tree with symlinks;
4. ansible-playbook playbooks/restore.yml against `target` with the controller copy, confirming
   that the archive of `source` goes into another host (papermerge_restore_confirm_label);
5. compare both instances through Papermerge's own ORM (users, tree, documents, pages, tags,
   sha256 of every media file).
"""

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / 'demo' / 'work'
sys.path.insert(0, str(ROOT / 'tests' / 'support'))

from papermerge_host import build_papermerge_venv, create_instance, state_differences  # noqa: E402


def step(title):
    print('\n==> %s' % title, flush=True)


def write_inventory(venv, source, target):
    inventory = WORK / 'inventory.yml'
    inventory.write_text(
        '---\nall:\n'
        '  vars:\n'
        '    ansible_connection: local\n'
        '    ansible_python_interpreter: %s\n'
        '    papermerge_venv: %s\n'
        '  children:\n'
        '    papermerge:\n'
        '      hosts:\n'
        '        source:\n'
        '          papermerge_project_dir: %s\n'
        '    papermerge_demo_target:\n'
        '      hosts:\n'
        '        target:\n'
        '          papermerge_project_dir: %s\n'
        % (sys.executable, venv, source.project_dir, target.project_dir), encoding='utf-8')
    return inventory


def playbook(inventory, name, **extra_vars):
    command = [str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
               str(ROOT / 'playbooks' / name)]
    for key, value in extra_vars.items():
        command += ['-e', '%s=%s' % (key, value)]
    print('$ ' + ' '.join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def show_archive(archive):
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    print('%s: %d members, %d bytes' % (archive.name, len(members), archive.stat().st_size))
    for member in members[:6]:
        print('   %s' % member.name)
    first_user = next(m.name.split('/')[0] for m in members
                      if m.issym() or (m.isdir() and m.name.split('/')[0] not in ('docs', 'sidecars')))
    print('per-user tree of %r:' % first_user)
    for member in members:
        if member.name.split('/')[0] == first_user:
            print('   %s%s' % (member.name, ' -> ' + member.linkname if member.issym() else '/'))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    step('Building two throwaway Papermerge 2.1.5 instances in %s' % WORK)
    venv = build_papermerge_venv()
    source = create_instance(WORK / 'source', venv, migrated=True, seeded=True)
    target = create_instance(WORK / 'target', venv, migrated=False)
    inventory = write_inventory(venv, source, target)

    step('Backing up `source` with playbooks/backup.yml')
    fetch_dir = WORK / 'controller-backups'
    playbook(inventory, 'backup.yml', papermerge_backup_dir=WORK / 'host-backups',
             papermerge_backup_fetch_dir=fetch_dir)
    archive = max(fetch_dir.rglob('*.tar.gz'))

    step('The archive on the controller')
    show_archive(archive)

    step('Restoring it into the bare `target` with playbooks/restore.yml')
    # The archive was made on `source` (its label): restoring it into another host takes a confirmation.
    playbook(inventory, 'restore.yml', papermerge_restore_hosts='papermerge_demo_target',
             papermerge_restore_archive=archive, papermerge_restore_upload_dir=WORK / 'target-uploads',
             papermerge_restore_confirm_label='source')

    step('Comparing both instances through Papermerge\'s own ORM')
    differences = state_differences(source.state(), target.state())
    if differences:
        print('\n'.join(differences))
        sys.exit('the restored instance differs from the source')
    print('identical: users, folders, documents, versions, pages, tags and every media file')


if __name__ == '__main__':
    main()
