"""Papermerge hosts for the Molecule scenarios of the roles.

Molecule's SSH test hosts share this machine's filesystem, so a "Papermerge host" is an
instance directory below the host's ``test_host_base_dir``.  The scenarios' prepare, verify and
cleanup steps call this script (with the development venv's Python):

    molecule_instance.py create BASE [--engine sqlite|postgresql] [--seed] [--bare] [--pg STATE]
        BASE/instance: a Papermerge 2.1.5 instance (migrated unless --bare, seeded with --seed);
        BASE/venv: a link to the Papermerge venv (the host's papermerge_venv);
        BASE/instance.json: what ``state`` needs to open the instance again.
        Prints the instance description as JSON.  Does nothing if BASE/instance.json exists.
    molecule_instance.py state BASE          the instance's state (state helper) as JSON
The testinfra tests of the scenarios import instance_state() and host_base_dir() from it.
    molecule_instance.py pg-start STATE      start a PostgreSQL cluster, describe it in STATE
    molecule_instance.py pg-stop STATE       stop it and remove it (and STATE)

The cluster outlives this process (Molecule's steps are separate processes): pg-start detaches
it from the interpreter's exit and pg-stop stops it again.
"""

import argparse
import atexit
import json
import os
import sys
from pathlib import Path

from papermerge_host import PapermergeInstance, build_papermerge_venv, create_instance
from pg_cluster import PostgresCluster, _find_binary


def _describe(instance):
    return {'base_dir': str(instance.base_dir), 'project_dir': str(instance.project_dir),
            'venv': str(instance.venv), 'config_file': str(instance.config_file),
            'media_root': str(instance.media_root), 'database': instance.database,
            'engine': instance.engine}


def _open(base):
    description = json.loads((Path(base) / 'instance.json').read_text())
    return PapermergeInstance(description['base_dir'], description['venv'], description['database'])


def _database(engine, pg_state, name):
    if engine == 'sqlite':
        return None
    cluster = _cluster_from(pg_state)
    return cluster.create_database(name)


def _cluster_from(pg_state):
    state = json.loads(Path(pg_state).read_text())
    cluster = PostgresCluster(state['base_dir'])
    cluster.port = state['port']
    cluster.superuser_password = state['superuser_password']
    return cluster


def create(args):
    base = Path(args.base)
    record = base / 'instance.json'
    if record.exists():
        print(record.read_text())
        return
    base.mkdir(parents=True, exist_ok=True)
    venv = build_papermerge_venv()
    name = 'pm_' + ''.join(c if c.isalnum() else '_' for c in base.parent.name + '_' + base.name)[-40:]
    instance = create_instance(base / 'instance', venv, _database(args.engine, args.pg, name.lower()),
                               migrated=not args.bare, seeded=args.seed)
    # Papermerge's own projects ship manage.py executable; django_manage runs ./manage.py.
    manage_py = instance.project_dir / 'manage.py'
    manage_py.chmod(0o755)
    link = base / 'venv'
    if not link.exists():
        link.symlink_to(venv)
    description = _describe(instance)
    record.write_text(json.dumps(description, indent=2))
    record.chmod(0o600)
    print(json.dumps(description, indent=2))


def instance_state(base):
    """The state helper's view of the instance below BASE (what ``state BASE`` prints).

    The scenarios' testinfra tests import this (pytest.ini puts tests/support on the path).
    """
    return _open(base).state()


def host_base_dir(host):
    """A testinfra host's test_host_base_dir, where its instance, backups and uploads live."""
    return host.ansible.get_variables()['test_host_base_dir']


def state(args):
    print(json.dumps(instance_state(args.base), indent=2, sort_keys=True))


def pg_start(args):
    state_file = Path(args.state)
    if state_file.exists():
        print(state_file.read_text())
        return
    cluster = PostgresCluster(args.dir).start() if args.dir else PostgresCluster().start()
    atexit.unregister(cluster.stop)  # the cluster must outlive this process
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({'base_dir': str(cluster.base_dir), 'port': cluster.port,
                                      'superuser_password': cluster.superuser_password}))
    state_file.chmod(0o600)
    print(state_file.read_text())


def pg_stop(args):
    state_file = Path(args.state)
    if not state_file.exists():
        return
    cluster = _cluster_from(state_file)
    if (cluster.data_dir / 'postmaster.pid').exists():
        cluster._as_postgres([_find_binary('pg_ctl'), '-D', str(cluster.data_dir), '-m', 'fast',
                              '-w', 'stop'], check=False)
    cluster._running = False
    cluster.stop()
    state_file.unlink()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    commands = parser.add_subparsers(dest='command', required=True)
    make = commands.add_parser('create')
    make.add_argument('base')
    make.add_argument('--engine', choices=('sqlite', 'postgresql'), default='sqlite')
    make.add_argument('--seed', action='store_true')
    make.add_argument('--bare', action='store_true', help='not migrated')
    make.add_argument('--pg', help='state file written by pg-start (PostgreSQL only)')
    make.set_defaults(run=create)
    show = commands.add_parser('state')
    show.add_argument('base')
    show.set_defaults(run=state)
    start = commands.add_parser('pg-start')
    start.add_argument('state')
    start.add_argument('--dir')
    start.set_defaults(run=pg_start)
    stop = commands.add_parser('pg-stop')
    stop.add_argument('state')
    stop.set_defaults(run=pg_stop)
    args = parser.parse_args(argv)
    if args.command == 'create' and args.engine == 'postgresql' and not args.pg:
        parser.error('--engine postgresql needs --pg STATE (from pg-start)')
    args.run(args)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
