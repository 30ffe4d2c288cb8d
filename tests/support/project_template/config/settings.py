# Settings of a Papermerge 2.1 project, as Papermerge's own 2.1 docker project writes them:
# everything from papermerge.conf.settings, plus MEDIA_ROOT, STATIC_ROOT, DATABASES and the
# search index location from configula ([main] media_root, [main] static_root, [database],
# [search]).
# The star import is how Papermerge's projects take its settings (config, HAYSTACK_CONNECTIONS).
# pylint: disable=wildcard-import,unused-wildcard-import,undefined-variable
import os
from pathlib import Path

from papermerge.conf.settings import *  # noqa

DEBUG = False

PROJ_ROOT = Path(__file__).resolve().parent.parent

MEDIA_ROOT = config.get(  # noqa: F405
    'main',
    'media_root',
    default=os.path.join(PROJ_ROOT, "media")
)

STATIC_ROOT = config.get(  # noqa: F405
    'main',
    'static_root',
    default=os.path.join(PROJ_ROOT, "static")
)

DATABASES = config.get_django_databases(proj_root=PROJ_ROOT)  # noqa: F405

LOCALE_PATHS = (
    PROJ_ROOT / Path('papermerge'),
)

search_engine = config.get('search', 'engine', default='xapian')  # noqa: F405

if search_engine == 'xapian':
    HAYSTACK_CONNECTIONS['default']['PATH'] = config.get(  # noqa: F405
        'search',
        'path',
        default=os.path.join(PROJ_ROOT, 'xapian_index')
    )
elif search_engine == 'whoosh':
    HAYSTACK_CONNECTIONS['default']['PATH'] = config.get(  # noqa: F405
        'search',
        'path',
        default=os.path.join(PROJ_ROOT, 'whoosh_index')
    )
elif search_engine in ('solr', 'es7', 'es', 'elasticsearch7', 'elasticsearch', 'elastic', 'elastic7'):
    HAYSTACK_CONNECTIONS['default']['URL'] = config.get('search', 'url')  # noqa: F405
