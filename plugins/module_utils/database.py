# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Direct access to a Papermerge database, without Django.

connect(instance.database) returns a Database whatever the engine:
- read_snapshot(): one consistent read-only view (SQLite: one read transaction; PostgreSQL: REPEATABLE READ
  READ ONLY) for as long as the `with` block lasts;
- write_transaction(): one transaction, committed when the block ends normally, rolled back otherwise;
- execute(sql, params) / iter_rows(sql, params): SQL is written with %s placeholders (as for Django and
  psycopg) on both engines; iter_rows yields dicts and fetches in batches (a server-side cursor on
  PostgreSQL), so memory stays flat however many rows there are.
UUIDs: SQLite stores Django UUIDFields as 32 hex digits, PostgreSQL as uuid. normalize_uuid() turns either
into the canonical dashed string; db.uuid_param() turns a UUID into what the engine stores.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import itertools
import os
import sqlite3
import uuid

from ansible_collections.papermerge.backup.plugins.module_utils.container import in_container
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.setting_names import setting

BATCH_SIZE = 1000
CONNECT_TIMEOUT = 10
# pg_advisory_xact_lock key of restores ("pmrestor"): see Database.lock_restores().
RESTORE_LOCK_KEY = 0x706D726573746F72
RESTORE_LOCK_SECONDS = 600
DRIVER_HINT = ("install psycopg2-binary (or psycopg) into that Python, or, the usual fix, point %s at the "
               "virtualenv Papermerge runs from, which has psycopg2" % setting("interpreter"))

_cursor_names = itertools.count(1)


def normalize_uuid(value):
    """Canonical dashed lower-case string for a UUID read from either engine (None stays None)."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(uuid.UUID(str(value)))


class CommitError(PapermergeBackupError):
    """The COMMIT itself failed: on PostgreSQL, when the connection was lost, the transaction may have
    committed all the same (the server got the COMMIT, its answer was lost)."""


def connect(database, read_only=False):
    """Open the database described by Instance.database ({'engine': 'sqlite', 'path': ...} or PostgreSQL)."""
    engine = database.get("engine")
    if engine == "sqlite":
        return SQLiteDatabase(database["path"], read_only=read_only)
    if engine == "postgresql":
        return PostgresDatabase(database)
    raise PapermergeBackupError("unsupported database engine %r: only sqlite and postgresql" % (engine,))


class Database:
    """Engine-neutral interface; subclasses supply the connection handling."""

    engine = None
    description = None

    def execute(self, sql, params=()):
        """Run one statement; returns the list of result rows as dicts (empty for statements without rows)."""
        cursor = self._cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            if cursor.description is None:
                return []
            return _as_dicts(cursor.description, cursor.fetchall())
        except Exception as error:
            raise self._query_error(error, sql)
        finally:
            cursor.close()

    def executemany(self, sql, seq_of_params):
        cursor = self._cursor()
        try:
            cursor.executemany(self._sql(sql), [tuple(p) for p in seq_of_params])
        except Exception as error:
            raise self._query_error(error, sql)
        finally:
            cursor.close()

    def scalar(self, sql, params=()):
        rows = self.execute(sql, params)
        if not rows:
            return None
        return list(rows[0].values())[0]

    def table_names(self):
        raise NotImplementedError

    def uuid_param(self, value):
        raise NotImplementedError

    def lock_restores(self, timeout=RESTORE_LOCK_SECONDS):
        """Inside write_transaction(): wait until no other restore's transaction is open on this database.

        SQLite needs nothing: write_transaction() already holds its one write lock.  PostgreSQL takes a
        transaction-level advisory lock, released by the commit or the rollback, also when the server ends the
        transaction of a client that was killed.
        """

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _query_error(self, error, sql):
        if isinstance(error, PapermergeBackupError):
            return error
        first_line = " ".join(sql.split())[:120]
        return PapermergeBackupError("database query failed on %s: %s (query: %s)" % (
            self.description, str(error).strip(), first_line))


def _as_dicts(description, rows):
    names = [column[0] for column in description]
    return [dict(zip(names, row)) for row in rows]


class SQLiteDatabase(Database):
    engine = "sqlite"

    def __init__(self, path, read_only=False):
        self.path = path
        self.description = "SQLite database %s" % path
        if not os.path.isfile(path):
            raise PapermergeBackupError(
                "SQLite database %s does not exist: check %s and [database] dir (or PAPERMERGE__DATABASE__DIR); a "
                "new instance needs `manage.py migrate` (the migrate role) first" % (path, setting("project_dir")))
        mode = "ro" if read_only else "rw"
        try:
            # autocommit mode: transactions are begun and ended explicitly below
            self.connection = sqlite3.connect("file:%s?mode=%s" % (_uri_path(path), mode), uri=True,
                                              isolation_level=None, timeout=60, check_same_thread=False)
            self.connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise PapermergeBackupError("cannot open %s: %s (is it readable by the user running the module?)" % (
                self.description, error))

    def _cursor(self):
        return self.connection.cursor()

    @staticmethod
    def _sql(sql):
        return sql.replace("%s", "?").replace("%%", "%")

    @contextlib.contextmanager
    def read_snapshot(self):
        # A deferred BEGIN takes its snapshot (and SHARED lock) at the first read, so read at once: from then
        # on every query in the block sees the same database, whatever other connections commit.
        self._begin("BEGIN")
        try:
            self.connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
            yield self
        finally:
            self.connection.execute("ROLLBACK")

    @contextlib.contextmanager
    def write_transaction(self):
        self._begin("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as error:
            # A COMMIT refused (a deferred constraint) leaves the transaction open: end it.
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            raise CommitError("the commit failed on %s: %s" % (self.description, error))

    def _begin(self, statement):
        try:
            self.connection.execute(statement)
        except sqlite3.Error as error:
            raise PapermergeBackupError("cannot start a transaction on %s: %s" % (self.description, error))

    def iter_rows(self, sql, params=(), batch_size=BATCH_SIZE):
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            names = [column[0] for column in cursor.description]
            while True:
                rows = cursor.fetchmany(batch_size)
                if not rows:
                    break
                for row in rows:
                    yield dict(zip(names, row))
        except sqlite3.Error as error:
            raise self._query_error(error, sql)
        finally:
            cursor.close()

    def table_names(self):
        rows = self.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return set(row["name"] for row in rows)

    def uuid_param(self, value):
        return uuid.UUID(str(value)).hex


def _uri_path(path):
    # sqlite URIs treat ? and # specially; percent-encode them (and % itself) in the file name
    return os.path.abspath(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


class PostgresDatabase(Database):
    engine = "postgresql"

    def __init__(self, settings):
        self.settings = settings
        self.description = "PostgreSQL database %s on %s:%s as user %s" % (
            settings.get("name"), settings.get("host"), settings.get("port"), settings.get("user"))
        self.driver, self.driver_name = _import_driver()
        self.connection = self._connect()

    def _connect(self):
        # The password travels as a connection parameter inside this process: never argv, never a file.
        params = dict(dbname=self.settings.get("name"), user=self.settings.get("user"),
                      host=self.settings.get("host"), port=self.settings.get("port"),
                      connect_timeout=CONNECT_TIMEOUT, application_name="papermerge.backup")
        if self.settings.get("password"):
            params["password"] = self.settings["password"]
        try:
            connection = self.driver.connect(**params)
        except Exception as error:
            raise _connection_error(self.description, error)
        connection.autocommit = False
        return connection

    def _cursor(self):
        return self.connection.cursor()

    @staticmethod
    def _sql(sql):
        return sql

    @contextlib.contextmanager
    def read_snapshot(self):
        self._set_session(read_only=True)
        try:
            self.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield self
        finally:
            self._rollback()

    @contextlib.contextmanager
    def write_transaction(self):
        self._set_session(read_only=False)
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        try:
            self.connection.commit()
        except Exception as error:
            raise CommitError("the commit failed on %s: %s" % (self.description, str(error).strip()))

    def lock_restores(self, timeout=RESTORE_LOCK_SECONDS):
        self.execute("SELECT set_config('lock_timeout', %s, true)", ("%ds" % max(1, int(timeout)),))
        try:
            self.execute("SELECT pg_advisory_xact_lock(%s)", (RESTORE_LOCK_KEY,))
        except PapermergeBackupError as error:
            if "lock timeout" not in str(error):
                raise
            raise PapermergeBackupError(
                "another restore is writing into %s (waited %d s): let it finish, then run this one again"
                % (self.description, timeout))

    def _rollback(self):
        # On a connection the server closed (or killed) there is nothing to roll back: the server did, and the
        # error that brought us here is the one to report, not "connection already closed".
        try:
            self.connection.rollback()
        except Exception:
            if not self.connection.closed:
                raise

    def _set_session(self, read_only):
        # Only allowed between transactions: end whatever the connection may have open.
        self.connection.rollback()
        if self.driver_name == "psycopg2":
            self.connection.set_session(readonly=read_only)
        else:
            self.connection.read_only = read_only

    def iter_rows(self, sql, params=(), batch_size=BATCH_SIZE):
        # A named (server-side) cursor streams the result; it needs the transaction read_snapshot() opened.
        cursor = self.connection.cursor(name="papermerge_backup_%d" % next(_cursor_names))
        try:
            cursor.execute(sql, tuple(params))
            names = None
            while True:
                rows = cursor.fetchmany(batch_size)
                if names is None:
                    names = [column[0] for column in cursor.description or ()]
                if not rows:
                    break
                for row in rows:
                    yield dict(zip(names, row))
        except PapermergeBackupError:
            raise
        except Exception as error:
            raise self._query_error(error, sql)
        finally:
            _close_quietly(cursor)

    def table_names(self):
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ANY (current_schemas(false)) AND table_type = 'BASE TABLE'")
        return set(row["table_name"] for row in rows)

    def uuid_param(self, value):
        return str(uuid.UUID(str(value)))


def _close_quietly(cursor):
    try:
        cursor.close()
    except Exception:  # closing a cursor of an aborted transaction may fail; the rollback cleans up
        pass


def _import_driver():
    try:
        import psycopg2
        return psycopg2, "psycopg2"
    except ImportError:
        pass
    try:
        import psycopg
        return psycopg, "psycopg"
    except ImportError:
        pass
    import sys
    raise PapermergeBackupError(
        "the instance uses PostgreSQL but the Python running this module (%s) has no PostgreSQL driver: %s"
        % (sys.executable, DRIVER_HINT), python=sys.executable)


def _connection_error(description, error):
    text = str(error).strip()
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        advice = ("the password was refused: check [database] password in papermerge.toml, "
                  "PAPERMERGE__DATABASE__PASSWORD or the module's database.password")
    elif "does not exist" in lowered and "database" in lowered:
        advice = "the database does not exist: check [database] name"
    elif any(s in lowered for s in ("could not connect", "connection refused", "timeout expired",
                                    "could not translate host name", "no route to host", "connection timed out")):
        advice = ("the server is not reachable: check [database] host and port and that PostgreSQL is "
                  "running and accepts connections from this host")
        if in_container():
            advice += (" (this runs inside the app's container: the host name is resolved, and the port reached, "
                       "from there, so the host is the one the app uses, such as the compose service db, and "
                       "localhost only when the container shares the host's network)")
    else:
        advice = "check the [database] settings of the instance"
    return PapermergeBackupError("cannot connect to %s: %s. Cause: %s" % (description, advice, text))
