"""The rotate role on a real directory: survey-style string numbers work, check mode removes
nothing, a run leaves exactly what the policy keeps (checksum files go with their archives),
and a second run changes nothing."""

from playbook_run import local_inventory, run_playbook

PLAY = [{
    'name': 'Rotate archives',
    'hosts': 'papermerge',
    'gather_facts': False,
    'roles': [{'role': 'papermerge.backup.rotate'}],
}]


def make_archives(directory, label, days):
    names = []
    for day in days:
        name = 'papermerge-%s-202611%02dT020000Z-2.1.5.tar.gz' % (label, day)
        (directory / name).write_bytes(b'not really an archive')
        (directory / (name + '.sha256')).write_text('0' * 64 + '  ' + name + '\n')
        names.append(name)
    return names


def test_rotate_keeps_exactly_the_policy(tmp_path):
    archives = tmp_path / 'archives'
    archives.mkdir()
    docs01 = make_archives(archives, 'docs01', range(1, 11))
    docs02 = make_archives(archives, 'docs02', range(1, 4))
    (archives / 'notes.txt').write_text('not an archive')
    before = sorted(p.name for p in archives.iterdir())
    # What an AWX survey sends: every answer a string.
    extravars = {
        'papermerge_rotate_path': str(archives),
        'papermerge_rotate_label': 'docs01',
        'papermerge_rotate_keep_last': '3',
        'papermerge_rotate_keep_daily': '0',
        'papermerge_rotate_keep_weekly': '0',
        'papermerge_rotate_keep_monthly': '0',
    }
    inventory = local_inventory(ansible_python_interpreter='/usr/bin/python3')

    preview = run_playbook(PLAY, inventory, extravars, check=True)
    assert preview.ok, preview.explain()
    assert preview.changed() == 1
    assert sorted(p.name for p in archives.iterdir()) == before

    run = run_playbook(PLAY, inventory, extravars)
    assert run.ok, run.explain()
    kept = docs01[-3:]
    expected = sorted(kept + [n + '.sha256' for n in kept]
                      + docs02 + [n + '.sha256' for n in docs02] + ['notes.txt'])
    assert sorted(p.name for p in archives.iterdir()) == expected

    again = run_playbook(PLAY, inventory, extravars)
    assert again.ok, again.explain()
    assert again.changed() == 0


def test_rotate_refuses_an_empty_policy(tmp_path):
    archives = tmp_path / 'archives'
    archives.mkdir()
    names = make_archives(archives, 'docs01', range(1, 4))
    extravars = {'papermerge_rotate_path': str(archives)}
    extravars.update({'papermerge_rotate_keep_%s' % period: '0'
                      for period in ('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly')})
    run = run_playbook(PLAY, local_inventory(ansible_python_interpreter='/usr/bin/python3'),
                       extravars)
    assert not run.ok
    [check] = run.results('Fail early on a path or a policy the prune module would refuse')
    assert check['msg'].startswith('papermerge_rotate_keep_last, _hourly, _daily, _weekly, _monthly and _yearly are all 0')
    assert all((archives / name).exists() for name in names)
