"""Real Papermerge 2.1.5 instances for the integration tests.

An instance is a directory holding a Django project shell (manage.py, config/), its
papermerge.toml, a media root and, on SQLite, the database file.  Everything that touches
Papermerge runs inside the Papermerge venv (its own Python, its own ORM) through subprocesses:
manage.py commands and the scripts in tests/support/django_scripts/.

Layout of one instance under ``base_dir``::

    project/        manage.py, config/, papermerge.toml
    media/          MEDIA_ROOT ([main] media_root): docs/, sidecars/
    db/             SQLite only ([database] dir): db.sqlite3
    search/         whoosh index ([search] path)
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORT_DIR = Path(__file__).resolve().parent
PROJECT_TEMPLATE = SUPPORT_DIR / 'project_template'
DJANGO_SCRIPTS = SUPPORT_DIR / 'django_scripts'
BUILD_VENV_SCRIPT = SUPPORT_DIR / 'build_papermerge_venv.sh'

SEED_SCRIPT = DJANGO_SCRIPTS / 'seed.py'
STATE_SCRIPT = DJANGO_SCRIPTS / 'state.py'
SMOKE_SCRIPT = DJANGO_SCRIPTS / 'smoke.py'
DRIFT_SCRIPT = DJANGO_SCRIPTS / 'drift.py'
SQL_SCRIPT = DJANGO_SCRIPTS / 'sql.py'

# A fixed key keeps instances reproducible; it protects nothing (throwaway test hosts).
TEST_SECRET_KEY = 'papermerge-backup-tests-not-a-secret'


class PapermergeCommandError(RuntimeError):
    """A command run in the Papermerge venv failed; the message carries its output."""


def build_papermerge_venv():
    """Build (or reuse) the Papermerge 2.1.5 venv and return its path."""
    result = subprocess.run(['bash', str(BUILD_VENV_SCRIPT)], check=True,
                            stdout=subprocess.PIPE, text=True)
    return Path(result.stdout.strip().splitlines()[-1])


def _toml_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def render_toml(sections):
    """Render {section: {key: value}} as TOML (strings, ints, bools only)."""
    lines = []
    for section, values in sections.items():
        lines.append('[%s]' % section)
        lines.extend('%s = %s' % (key, _toml_value(value))
                     for key, value in values.items() if value is not None)
        lines.append('')
    return '\n'.join(lines)


def sqlite_database(db_dir):
    """A database dict (configula keys) for SQLite in ``db_dir``."""
    return {'type': 'sqlite', 'name': None, 'user': None, 'password': None,
            'host': None, 'port': None, 'dir': str(db_dir)}


class PapermergeInstance:
    """One Papermerge 2.1.5 instance on this machine, driven through its own venv.

    Attributes: base_dir, project_dir, venv, python, media_root, config_file, search_dir,
    database (dict with configula keys type/name/user/password/host/port/dir), engine
    ('sqlite' | 'postgresql').
    """

    def __init__(self, base_dir, venv, database):
        self.base_dir = Path(base_dir)
        self.venv = Path(venv)
        self.python = self.venv / 'bin' / 'python'
        self.project_dir = self.base_dir / 'project'
        self.media_root = self.base_dir / 'media'
        self.search_dir = self.base_dir / 'search'
        self.config_file = self.project_dir / 'papermerge.toml'
        self.database = dict(database)
        self.engine = 'postgresql' if self.database.get('type') in (
            'pg', 'postgre', 'postgres', 'postgresql') else 'sqlite'

    def __repr__(self):
        return 'PapermergeInstance(%s, %s)' % (self.base_dir, self.engine)

    # -- creation -------------------------------------------------------------------------
    def create(self):
        """Lay out the project shell, media root and papermerge.toml."""
        shutil.copytree(PROJECT_TEMPLATE, self.project_dir,
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        self.media_root.mkdir(parents=True, exist_ok=True)
        self.search_dir.mkdir(parents=True, exist_ok=True)
        if self.engine == 'sqlite':
            Path(self.database['dir']).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(render_toml(self.toml_sections()), encoding='utf-8')
        return self

    def toml_sections(self):
        """The papermerge.toml content as {section: {key: value}}."""
        if self.engine == 'sqlite':
            database = {'type': 'sqlite', 'dir': self.database['dir']}
        else:
            database = {key: self.database.get(key)
                        for key in ('type', 'name', 'user', 'password', 'host', 'port')}
            database['port'] = int(database['port'])
        return {
            'main': {'secret_key': TEST_SECRET_KEY, 'media_root': str(self.media_root),
                     'timezone': 'UTC'},
            'database': database,
            'search': {'engine': 'whoosh', 'path': str(self.search_dir)},
            'ocr': {'default_language': 'deu'},
        }

    @property
    def sqlite_file(self):
        """Path of the SQLite database file (SQLite instances only)."""
        return Path(self.database['dir']) / 'db.sqlite3'

    # -- running things in the Papermerge venv ----------------------------------------------
    def environment(self, extra=None):
        """Environment for processes of this instance: no stray PAPERMERGE__* from the caller."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith('PAPERMERGE__') and key not in (
                   'DJANGO_SETTINGS_MODULE', 'PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')}
        env.update({
            'PAPERMERGE__CONFIG': str(self.config_file),
            'DJANGO_SETTINGS_MODULE': 'config.settings',
            'PYTHONPATH': str(self.project_dir),
            'PYTHONUNBUFFERED': '1',
            'PYTHONIOENCODING': 'utf-8',
            'LC_ALL': 'C.UTF-8',
            'LANG': 'C.UTF-8',
        })
        env.update(extra or {})
        return env

    def run(self, argv, env=None, timeout=600, stdin=None):
        """Run ``argv`` in the project dir with this instance's environment; return stdout."""
        result = subprocess.run([str(a) for a in argv], cwd=str(self.project_dir), input=stdin or '',
                                env=self.environment(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout,
                                check=False)
        if result.returncode != 0:
            raise PapermergeCommandError(
                '%s exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s'
                % (' '.join(str(a) for a in argv), result.returncode,
                   result.stdout[-5000:], result.stderr[-10000:]))
        return result.stdout

    def manage(self, *args, env=None, timeout=600):
        """Run ``manage.py <args>`` with the venv's python; return stdout."""
        return self.run([self.python, 'manage.py'] + list(args), env=env, timeout=timeout)

    def run_django_script(self, path, *args, env=None, timeout=600):
        """Run a script that calls django.setup() itself (see django_scripts/); return stdout."""
        return self.run([self.python, str(path)] + list(args), env=env, timeout=timeout)

    # -- the operations tests use ------------------------------------------------------------
    def migrate(self):
        self.manage('migrate', '--noinput', '-v', '0')
        return self

    def seed(self, *args):
        """Seed the standard data set (or, with args, e.g. '--documents', '1000', the bulk one)."""
        self.run_django_script(SEED_SCRIPT, *args)
        return self

    def state(self, timestamps=True):
        """Render the instance as a JSON-able dict (shape: django_scripts/state.py).

        ``timestamps=False`` leaves out created_at/updated_at of users and nodes."""
        args = [] if timestamps else ['--no-timestamps']
        return json.loads(self.run_django_script(STATE_SCRIPT, *args))

    def sql(self, statement):
        """Run one SQL statement on the instance's database (either engine, in a transaction);
        return its rows as lists (values JSON-converted: uuids and times as strings)."""
        return json.loads(self.run([self.python, SQL_SCRIPT], stdin=statement))

    def add_user(self, username, folder=None, superuser=False):
        """A user made the way Papermerge makes them (its signal adds .home and .inbox), a superuser as
        `createsuperuser` makes one when superuser is set, with ``folder``, a folder of theirs in .home, when
        given."""
        make = ('User.objects.create_superuser(username=%r, email="admin@example.com", password="x")' if superuser
                else 'User.objects.create_user(username=%r, password="x")') % username
        script = 'from papermerge.core.models import Folder, User; user = %s; ' % make
        if folder:
            script += 'Folder.objects.create(title=%r, ctype="folder", parent=user.home_folder, user=user); ' % folder
        self.manage('shell', '-c', script)
        return self

    def drift(self):
        """A day of use on a seeded instance (django_scripts/drift.py): renamed, moved and new documents, a new
        user, folder and tag, a changed email, a stray media file."""
        self.run_django_script(DRIFT_SCRIPT)
        return self

    def smoke(self):
        """Check the instance still takes everyday writes (new user, folder, document, tag,
        preference, group) in a rolled-back transaction; raises PapermergeCommandError with
        the database's error otherwise (e.g. PostgreSQL sequences behind restored rows)."""
        self.run_django_script(SMOKE_SCRIPT)
        return self


def create_instance(base_dir, venv, database=None, migrated=True, seeded=False):
    """Create a fresh instance under ``base_dir`` (SQLite when ``database`` is None)."""
    base_dir = Path(base_dir)
    if database is None:
        database = sqlite_database(base_dir / 'db')
    instance = PapermergeInstance(base_dir, venv, database).create()
    if migrated or seeded:
        instance.migrate()
    if seeded:
        instance.seed()
    return instance


def clone_instance(source, base_dir, database=None):
    """A new instance under ``base_dir`` holding a copy of ``source``'s rows and media files.

    SQLite: the database file is copied.  PostgreSQL: pass ``database``, a copy of the source's
    database (PostgresCluster.clone_database).  Cloning a migrated or seeded template is much
    faster than migrating and seeding again, and gives the same state.
    """
    base_dir = Path(base_dir)
    if source.engine == 'sqlite':
        database = sqlite_database(base_dir / 'db')
    elif database is None:
        raise ValueError('cloning a PostgreSQL instance needs a copy of its database')
    clone = PapermergeInstance(base_dir, source.venv, database).create()
    if source.engine == 'sqlite' and source.sqlite_file.exists():
        shutil.copy2(source.sqlite_file, clone.sqlite_file)
    shutil.rmtree(clone.media_root)
    shutil.copytree(source.media_root, clone.media_root, symlinks=True)
    return clone


# -- comparing states --------------------------------------------------------------------------
_IDENTITY_KEYS = (('user', 'path'), ('user', 'name'), ('username',), ('name',), ('number',))


def _identity(item):
    """How a list item is named in a difference: its natural key, not its list position."""
    if isinstance(item, dict):
        for keys in _IDENTITY_KEYS:
            if all(key in item for key in keys):
                return ' '.join(str(item[key]) for key in keys)
    return None


def _keyed(items):
    """A list of dicts as {identity: item}, or None when items lack unique identities."""
    keyed = {}
    for item in items:
        identity = _identity(item)
        if identity is None or identity in keyed:
            return None
        keyed[identity] = item
    return keyed


def _walk_differences(a, b, path, out, limit):
    if len(out) >= limit:
        return
    if isinstance(a, list) and isinstance(b, list):
        keyed_a, keyed_b = _keyed(a), _keyed(b)
        if keyed_a is not None and keyed_b is not None:
            a, b = keyed_a, keyed_b
        elif len(a) == len(b):
            a, b = dict(enumerate(a)), dict(enumerate(b))
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = '%s[%s]' % (path, key) if path else str(key)
            if key not in b:
                out.append('- %s: only in first: %s' % (where, _short(a[key])))
            elif key not in a:
                out.append('+ %s: only in second: %s' % (where, _short(b[key])))
            else:
                _walk_differences(a[key], b[key], where, out, limit)
        return
    if a != b:
        out.append('~ %s: %s != %s' % (path or '(top)', _short(a), _short(b)))


def _short(value, width=300):
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= width else text[:width] + '...'


def state_differences(a, b, limit=50):
    """List of readable differences between two states (empty when equal)."""
    out = []
    _walk_differences(a, b, '', out, limit)
    return out


def diff_states(a, b, limit=50):
    """A readable multi-line description of how state ``a`` differs from ``b`` ('' if equal)."""
    differences = state_differences(a, b, limit)
    if not differences:
        return ''
    more = ' (first %d shown)' % limit if len(differences) >= limit else ''
    return 'states differ%s:\n%s' % (more, '\n'.join(differences))


def assert_states_equal(a, b):
    """Assert two states are equal, with a readable difference as the message."""
    assert a == b, diff_states(a, b)


def without_keys(state, keys):
    """A copy of ``state`` with every dict key in ``keys`` removed at any depth."""
    keys = set(keys)
    if isinstance(state, dict):
        return {k: without_keys(v, keys) for k, v in state.items() if k not in keys}
    if isinstance(state, list):
        return [without_keys(v, keys) for v in state]
    return state


if __name__ == '__main__':  # manual use: python papermerge_host.py DIR [--seed]
    target = Path(sys.argv[1])
    made = create_instance(target, build_papermerge_venv(), seeded='--seed' in sys.argv)
    print(made.project_dir)
