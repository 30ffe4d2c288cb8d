# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Find a Papermerge 2.1 instance's media root and database the way Papermerge itself does.

Papermerge 2.1 reads its settings through configula 0.5.4:
- the first file that exists of /etc/papermerge/papermerge.toml, /etc/papermerge.toml and ./papermerge.toml
  (relative to the working directory, which for manage.py and the services is the project directory);
  only when none exists, the file named by PAPERMERGE__CONFIG. Files are not merged: the first one wins.
- PAPERMERGE__<SECTION>__<KEY> environment variables win over the file, when they are not empty.
The project's config/settings.py (as shipped in Papermerge 2.1's images) then sets
MEDIA_ROOT = [main] media_root (documented for 2.1; the first 2.1 images read [media] dir, which is taken
when media_root is unset), default <project>/media, and DATABASES = configula.get_django_databases(<project>):
SQLite file db.sqlite3 in [database] dir (default <project>) unless [database] type names PostgreSQL or MySQL.

Module options sit on top: `environment` (the variables the app runs with) over the module's own process
environment, and the `media_root` / `database` overrides over everything.  instance_from_params() is how both
papermerge_backup and papermerge_restore set up the instance from those options.

`environment` is not secret (Ansible logs it and returns it as given, like any option that is not no_log), so
it takes no secret-named variable: the database password comes as `database.password` (no_log), from the
configuration file, or from the module's own process environment (a container's, for example).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.papermerge_version import find_papermerge_version
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

DEFAULT_LOCATIONS = (
    "/etc/papermerge/papermerge.toml",
    "/etc/papermerge.toml",
    "papermerge.toml",
)
CONFIG_VARIABLE = "PAPERMERGE__CONFIG"
ENV_PREFIX = "PAPERMERGE__"
POSTGRES_TYPES = ("pg", "postgre", "postgres", "postgresql")
MYSQL_TYPES = ("my", "mysql", "maria", "mariadb")
DATABASE_KEYS = ("type", "name", "user", "password", "host", "port", "dir")
MEDIA_ROOT_KEYS = (("main", "media_root"), ("media", "dir"))
SECRET_NAME_WORDS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL")


def instance_argument_spec():
    """The options every module that works on an instance takes (documented in doc_fragments/instance.py)."""
    return dict(
        project_dir=dict(type="path", required=True),
        config_file=dict(type="path"),
        # Not secret: secret-named variables are refused (check_environment), the password has database.password.
        environment=dict(type="dict", default={}, no_log=False),
        media_root=dict(type="path"),
        papermerge_version=dict(type="str"),
        database=dict(
            type="dict",
            options=dict(
                type=dict(type="str"),
                name=dict(type="str"),
                user=dict(type="str"),
                password=dict(type="str", no_log=True),
                host=dict(type="str"),
                port=dict(type="int"),
                dir=dict(type="path"),
            ),
        ),
    )


def instance_from_params(params):
    """(Instance, its Papermerge version or None) from the shared instance options of a module's params.

    The version is the module's papermerge_version option when it is set, else the one found on the host
    (papermerge_version.find_papermerge_version).
    """
    check_environment(params.get("environment"))
    instance = resolve_instance(params["project_dir"], config_file=params.get("config_file"),
                                environment=params.get("environment"), media_root=params.get("media_root"),
                                database=params.get("database"))
    version = params.get("papermerge_version") or find_papermerge_version(instance.project_dir)
    return instance, str(version) if version else None


def check_environment(environment):
    """Refuse secret-named variables in the environment option, naming them (never their values)."""
    secrets = sorted(str(name) for name in (environment or {}) if _secret_name(name))
    if secrets:
        raise PapermergeBackupError(
            "the environment option holds %s, named like a secret: that option is not secret (Ansible logs it and "
            "returns it as given), so it takes only the instance's other PAPERMERGE__* variables. Pass the database "
            "password as database.password, which is never logged or returned; the modules need no other secret "
            "(they do not read PAPERMERGE__MAIN__SECRET_KEY: leave it out)" % ", ".join(secrets),
            secret_variables=secrets)


def without_secret_variables(environment):
    """The environment minus its secret-named variables: what the roles hand the modules' `environment` option
    (the password travels as database.password; the modules need no other secret)."""
    return dict((key, value) for key, value in (environment or {}).items() if not _secret_name(key))


def _secret_name(name):
    return any(word in str(name).upper() for word in SECRET_NAME_WORDS)


class Instance:
    """Where one Papermerge instance keeps its data.

    database: dict with engine ("sqlite" or "postgresql") and, for SQLite, path; for PostgreSQL name, user,
    password, host, port.  config_sources: human-readable list of what the values came from (never values).
    """

    def __init__(self, project_dir, media_root, database, config_file, config_sources):
        self.project_dir = project_dir
        self.media_root = media_root
        self.database = database
        self.config_file = config_file
        self.config_sources = config_sources

    def __repr__(self):
        return "Instance(project_dir=%r, media_root=%r, engine=%r)" % (
            self.project_dir, self.media_root, self.database.get("engine"))


def resolve_instance(project_dir, config_file=None, environment=None, media_root=None, database=None,
                     process_environ=None, locations=DEFAULT_LOCATIONS):
    """Resolve the instance in project_dir.

    config_file, when given, is read instead of searching the default locations (it names the file the
    instance really uses).  process_environ and locations exist for tests; modules leave them alone.
    """
    project_dir = os.path.realpath(os.path.expanduser(project_dir))
    if not os.path.isdir(project_dir):
        raise PapermergeBackupError(
            "project_dir %s is not a directory: give the directory that holds the instance's manage.py" % project_dir)
    env = _papermerge_environment(os.environ if process_environ is None else process_environ, environment)
    path = _find_config_file(project_dir, config_file, env, locations)
    settings = _Settings(load_toml(path) if path else {}, env, _database_overrides(database))
    instance = Instance(
        project_dir=project_dir,
        media_root=_media_root(project_dir, settings, media_root),
        database=_database(project_dir, settings),
        config_file=path,
        config_sources=[],
    )
    instance.config_sources = _describe_sources(path, settings, media_root)
    return instance


def _papermerge_environment(process_environ, environment):
    env = dict((k, v) for k, v in process_environ.items() if k.startswith(ENV_PREFIX))
    for key, value in (environment or {}).items():
        env[str(key)] = "" if value is None else str(value)
    return env


def _find_config_file(project_dir, config_file, env, locations):
    if config_file:
        path = _absolute(project_dir, config_file)
        if not os.path.isfile(path):
            raise PapermergeBackupError(
                "config_file %s does not exist: give the papermerge.toml the instance reads, or leave "
                "config_file out to search the locations Papermerge searches" % path)
        return path
    # configula checks locations in order and stops at the first that exists; the relative one is
    # relative to the working directory of Papermerge's processes, the project directory.
    for location in locations:
        path = _absolute(project_dir, location)
        if os.path.exists(path):
            return path
    named = env.get(CONFIG_VARIABLE)
    if named:
        path = _absolute(project_dir, named)
        if os.path.exists(path):
            return path
    return None


def _absolute(project_dir, path):
    path = os.path.expanduser(str(path))
    return os.path.normpath(os.path.join(project_dir, path))


def load_toml(path):
    """Parse a TOML file with whatever TOML library this Python has; plain dicts out."""
    loads = _toml_loader()
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (IOError, OSError) as error:
        raise PapermergeBackupError("cannot read Papermerge configuration %s: %s" % (path, error))
    except UnicodeDecodeError as error:
        raise PapermergeBackupError("Papermerge configuration %s is not UTF-8: %s" % (path, error))
    try:
        data = loads(text)
    except Exception as error:  # every TOML library has its own error class
        raise PapermergeBackupError("Papermerge configuration %s is not valid TOML: %s" % (path, error))
    return _plain(data)


def _toml_loader():
    for module_name in ("tomllib", "tomli", "toml", "tomlkit"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        return module.loads
    raise PapermergeBackupError(
        "no TOML parser in this Python (tomllib needs 3.11; tomli, toml or tomlkit otherwise): point %s at the "
        "virtualenv Papermerge runs from, which has tomlkit" % setting("interpreter"))


def _plain(value):
    # tomlkit returns its own container and item types; reduce them to dict/list/str/int/float/bool
    if hasattr(value, "unwrap"):
        value = value.unwrap()
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _database_overrides(database):
    return dict((k, v) for k, v in (database or {}).items() if k in DATABASE_KEYS and v not in (None, ""))


class _Settings:
    """configula's Configula.get, plus the module's `database` overrides on top."""

    def __init__(self, toml, env, database_overrides):
        self.toml = toml
        self.env = env
        self.database_overrides = database_overrides

    def get(self, section, key, default=None):
        if section == "database" and key in self.database_overrides:
            return self.database_overrides[key]
        # configula: `os.getenv(name) or toml[section][key]`, so an empty variable falls through to the file
        value = self.env.get(self.env_name(section, key))
        if value:
            return value
        try:
            return self.toml[section][key]
        except (KeyError, TypeError):
            return default

    @staticmethod
    def env_name(section, key):
        return ("%s%s__%s" % (ENV_PREFIX, section, key)).upper()

    def source(self, section, key):
        if section == "database" and key in self.database_overrides:
            return "option database.%s" % key
        if self.env.get(self.env_name(section, key)):
            return "environment %s" % self.env_name(section, key)
        if isinstance(self.toml.get(section), dict) and key in self.toml[section]:
            return "file [%s] %s" % (section, key)
        return None


def _media_root(project_dir, settings, override):
    if override:
        return _absolute(project_dir, override)
    # [main] media_root is the documented 2.1 setting; the first 2.1 images read [media] dir instead.
    for section, key in MEDIA_ROOT_KEYS:
        value = settings.get(section, key)
        if value:
            return _absolute(project_dir, value)
    return os.path.join(project_dir, "media")


def _database(project_dir, settings):
    kind = settings.get("database", "type", False)
    if kind in POSTGRES_TYPES:
        return dict(
            engine="postgresql",
            name=str(settings.get("database", "name", "papermerge")),
            user=str(settings.get("database", "user", "papermerge")),
            password=str(settings.get("database", "password", "")),
            host=str(settings.get("database", "host", "localhost")),
            port=_port(settings.get("database", "port", 5432)),
        )
    if kind in MYSQL_TYPES:
        raise PapermergeBackupError(
            "the instance uses MySQL/MariaDB ([database] type = %s), which this collection does not support: "
            "only SQLite and PostgreSQL instances can be backed up and restored" % kind)
    directory = settings.get("database", "dir", project_dir)
    return dict(engine="sqlite", path=os.path.join(_absolute(project_dir, directory), "db.sqlite3"))


def _port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PapermergeBackupError("[database] port %r is not a number" % (value,))


def _describe_sources(path, settings, media_override):
    sources = ["file %s" % path] if path else ["no configuration file (Papermerge defaults)"]
    keys = list(MEDIA_ROOT_KEYS) + [("database", key) for key in DATABASE_KEYS]
    for section, key in keys:
        source = settings.source(section, key)
        if source and not source.startswith("file"):
            sources.append(source)
    if media_override:
        sources.append("option media_root")
    return sources
