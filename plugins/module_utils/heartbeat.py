# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE and should only be used by this collection. Breaking changes can occur any time.
"""Heartbeat pings in the push style of Healthchecks.io and Uptime Kuma: <url>/start, <url>, <url>/fail.

A ping is best effort: a short timeout, one retry, and a ping that cannot be delivered is a warning for the
caller, never an error, because a monitoring service being down must not fail a backup.  The URL is a
credential (whoever knows it can report success), so nothing here ever puts it in a message: messages name the
URL's scheme and host only.  Stdlib only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import time

from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url
from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError

EVENTS = ("start", "success", "fail")
BODY_LIMIT = 1000
RETRY_PAUSE = 1.0
USER_AGENT = "papermerge.backup heartbeat"
# user:password@ in URLs, and key=value pairs whose key names a secret, are removed from /fail bodies.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")
_SECRET_VALUE = re.compile(r"(?i)\b([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL)[A-Z0-9_]*)(\s*[=:]\s*)\S+")


def ping_url(url, event):
    """The URL to ping for event: <url>/start, <url> or <url>/fail (query string kept at the end)."""
    if event not in EVENTS:
        raise PapermergeBackupError("event must be one of %s, not %r" % (", ".join(EVENTS), event))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PapermergeBackupError("the ping URL must be an http:// or https:// URL (%s)" % describe(url))
    path = parts.path.rstrip("/")
    if event != "success":
        path += "/" + event
    return parts._replace(path=path).geturl()


def describe(url):
    """What messages may say about a ping URL: its scheme and host, never its path (the secret part)."""
    parts = urlsplit(str(url))
    host = parts.hostname or "?"
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return "%s://%s/..." % (parts.scheme or "?", host)


def clean_body(text):
    """A /fail body: at most BODY_LIMIT characters, with URL credentials and secret-named values removed."""
    text = _URL_CREDENTIALS.sub(r"\1***@", str(text or ""))
    text = _SECRET_VALUE.sub(r"\1\2***", text)
    if len(text) > BODY_LIMIT:
        text = text[:BODY_LIMIT - 3] + "..."
    return text


def send_ping(url, event, body=None, timeout=10, retries=1):
    """Ping; returns (delivered, warning or None).  Never raises for network or HTTP errors."""
    target = ping_url(url, event)
    data = clean_body(body).encode("utf-8") if body else None
    last_error = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(RETRY_PAUSE)
        last_error = _try_once(target, data, timeout)
        if last_error is None:
            return True, None
    return False, ("the %s heartbeat ping to %s could not be delivered (%s, %d attempt(s), %ss timeout each); the "
                   "run goes on without it" % (event, describe(url), last_error, retries + 1, timeout))


def _try_once(target, data, timeout):
    # Healthchecks takes GET and POST alike; a body makes it a POST, which is how it records the message.
    headers = {"User-Agent": USER_AGENT}
    if data is not None:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    try:
        response = open_url(target, data=data, headers=headers, method="POST" if data is not None else "GET",
                            timeout=timeout, http_agent=USER_AGENT)
        try:
            response.read(4096)
        finally:
            response.close()
        return None
    except HTTPError as error:
        return "HTTP %d" % error.code
    except URLError as error:
        return _reason(error.reason)
    except (socket.timeout, OSError) as error:
        return _reason(error)


def _reason(error):
    if isinstance(error, socket.timeout) or "timed out" in str(error):
        return "timed out"
    return str(getattr(error, "strerror", None) or error)
