"""Papermerge in Docker for the Molecule scenario ``docker``.

Molecule's steps are separate processes, so they run under one lease of the test daemon
(scripts/molecule-all.sh runs ``docker_daemon.py lease -- molecule test -s docker``): what they
create belongs to the lease (DockerDaemon.of_lease()) and goes with it, however the run ends.

    molecule_docker.py up BASE      a started, init-ed compose deployment (ComposeDeployment)
                                    described in BASE/deployment.json, which it also prints;
                                    nothing if that file exists
    molecule_docker.py down BASE    take it down, volumes and all
    molecule_docker.py state NAME   the state (state helper) of the Papermerge container NAME

The testinfra tests import container_state() and deployment() from here.
"""

import json
import sys
from pathlib import Path

from docker_daemon import DockerDaemon
from docker_images import ensure_images
from papermerge_container import ComposeDeployment, PapermergeContainer

DESCRIPTION = 'deployment.json'


def up(base):
    base = Path(base)
    if (base / DESCRIPTION).exists():
        return deployment(base)
    daemon = DockerDaemon.of_lease()
    project = 'pmbt%smol' % daemon.run_id
    made = ComposeDeployment(daemon, ensure_images(daemon), base, project).up()
    description = {'project': project, 'backend': made.backend.name, 'worker': made.worker.name,
                   'database': {key: value for key, value in made.database.items() if key != 'password'}}
    (base / DESCRIPTION).write_text(json.dumps(description))
    return description


def down(base):
    base = Path(base)
    if (base / DESCRIPTION).exists():
        project = deployment(base)['project']
        ComposeDeployment(DockerDaemon.of_lease(), None, base, project).down()
        (base / DESCRIPTION).unlink()


def deployment(base):
    return json.loads((Path(base) / DESCRIPTION).read_text())


def container_state(name, engine_database=None):
    """The state of the Papermerge container ``name``, media sha256 included."""
    container = PapermergeContainer(DockerDaemon.of_lease(), name, engine_database or {})
    return container.state()


def main(argv):
    command, target = argv
    if command == 'up':
        print(json.dumps(up(target)))
    elif command == 'down':
        down(target)
    elif command == 'state':
        print(json.dumps(container_state(target)))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
