# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options of plugins/module_utils/instance.py instance_argument_spec().
    DOCUMENTATION = r"""
options:
  project_dir:
    description:
      - The Papermerge project directory, the one that holds C(manage.py) and the C(config) package.
      - Relative paths in the configuration (C([main] media_root), C([database] dir), the C(papermerge.toml) Papermerge
        looks for in its working directory) are taken relative to it, as Papermerge's processes run there.
      - Default locations derived from it are C(<project_dir>/media) for the media root and
        C(<project_dir>/db.sqlite3) for the SQLite database.
    type: path
    required: true
  config_file:
    description:
      - The C(papermerge.toml) the instance reads. When given, only this file is read.
      - When left out, the file is found as Papermerge 2.1 (configula) finds it, the first that exists of
        C(/etc/papermerge/papermerge.toml), C(/etc/papermerge.toml), C(<project_dir>/papermerge.toml), and only
        if none exists the file named by C(PAPERMERGE__CONFIG). Files are not merged.
    type: path
  environment:
    description:
      - The C(PAPERMERGE__*) environment variables the instance runs with (from its systemd unit, compose file
        or container definition), for example C(PAPERMERGE__DATABASE__TYPE=postgres).
      - As in Papermerge, a non-empty C(PAPERMERGE__<SECTION>__<KEY>) variable wins over the same key in the
        file. These values are layered over the C(PAPERMERGE__*) variables of the module's own environment.
      - Not secret. Like any option that is not C(no_log), it is logged and returned as given, so a variable
        whose name contains C(PASSWORD), C(PASSWD), C(SECRET), C(TOKEN), C(KEY) or C(CREDENTIAL) is refused.
        Give the database password as O(database.password) (never logged or returned) instead of
        C(PAPERMERGE__DATABASE__PASSWORD); leave C(PAPERMERGE__MAIN__SECRET_KEY) and other secrets out, the
        modules do not read them.
      - The C(PAPERMERGE__*) variables of the module's own process environment (in a container, those the
        container was started with) are read as well, the password among them; the module never logs or returns
        them.
    type: dict
    default: {}
  media_root:
    description:
      - The instance's media root (the directory holding C(docs/) and C(sidecars/)), overriding the
        configuration's C([main] media_root) (or C([media] dir), read by the first 2.1 images when media_root is unset).
    type: path
  papermerge_version:
    description:
      - The instance's Papermerge version (for example V(2.1.9)). A backup records it in the archive and its name;
        a restore refuses archives of a newer Papermerge (papermerge_restore's O(papermerge.backup.papermerge_restore#module:allow_newer_version)).
      - By default it is found on the host, never by importing Papermerge, in this order. The papermerge-core
        distribution installed in the Python running the module (a virtualenv on the host). The source tree in
        O(project_dir), C(<project_dir>/papermerge/core/version.py), read as text (the official Docker images copy
        the source to C(/app) and install no distribution). A virtualenv in O(project_dir) (C(venv), C(.venv),
        C(env), C(.env)) or beside it (C(venv), C(.venv)).
      - Set it only for an instance laid out some other way. The roles pass their variable C(papermerge_version).
    type: str
  database:
    description:
      - Database settings overriding those of the configuration file and of the environment, key by key, with
        configula's key names.
      - Keys left out come from the environment (O(environment) and the module's own), the configuration file or
        Papermerge's defaults, in this order.
    type: dict
    suboptions:
      type:
        description:
          - C(pg), C(postgre), C(postgres) or C(postgresql) for PostgreSQL; anything else means SQLite,
            as in Papermerge. MySQL/MariaDB instances are not supported.
        type: str
      name:
        description: PostgreSQL database name (Papermerge's default C(papermerge)).
        type: str
      user:
        description: PostgreSQL user (Papermerge's default C(papermerge)).
        type: str
      password:
        description:
          - PostgreSQL password. Passed to the driver as a connection parameter, never on a command line.
        type: str
      host:
        description: PostgreSQL host name, address or socket directory (Papermerge's default C(localhost)).
        type: str
      port:
        description: PostgreSQL port (default 5432).
        type: int
      dir:
        description: Directory of the SQLite file C(db.sqlite3) (default the project directory).
        type: path
requirements:
  - For PostgreSQL instances, psycopg2 or psycopg (3) in the Python that runs the module. The Papermerge
    virtualenv has psycopg2, so pointing C(ansible_python_interpreter) at it is the usual way.
  - A TOML parser (tomllib on Python 3.11+, otherwise tomli, toml or tomlkit; the Papermerge virtualenv has
    tomlkit) when the instance has a configuration file.
"""
