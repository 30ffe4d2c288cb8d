"""Run one SQL statement on a Papermerge instance's database through Django's connection.

Runs inside the Papermerge venv with the instance's environment (see
tests/support/papermerge_host.py), so the same call works on SQLite and PostgreSQL.  The
statement comes on stdin; its rows (if any) are printed as a JSON list of lists.

    echo "SELECT count(*) FROM core_document" | sql.py
"""

import json
import sys

import django


def main():
    django.setup()
    from django.db import connection, transaction

    statement = sys.stdin.read()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall() if cursor.description else []
    sys.stdout.write(json.dumps([list(row) for row in rows], default=str, ensure_ascii=False))
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
