# Load the Celery app with Django so that shared tasks bind to it (and to the broker
# configured in settings) rather than to Celery's default app, which would try amqp://localhost.
from .celery import app as celery_app

__all__ = ('celery_app',)
