import os

from celery import Celery

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')

app = Celery('papermerge')
# All Celery settings come from Django settings with a CELERY_ prefix: papermerge.conf.settings
# sets CELERY_BROKER_URL to memory:// when no [redis] section is configured.
app.config_from_object('django.conf:settings', namespace='CELERY')
app.autodiscover_tasks()
