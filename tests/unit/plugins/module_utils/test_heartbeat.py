# -*- coding: utf-8 -*-
# Copyright: papermerge.backup contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Heartbeat pings against a real HTTP server on a loopback port: the three URLs, the /fail body, and failures
that become warnings naming no secret."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.papermerge.backup.plugins.module_utils.errors import PapermergeBackupError
from ansible_collections.papermerge.backup.plugins.module_utils.heartbeat import (
    clean_body, describe, ping_url, send_ping)

SECRET = '5f3c0a1e-secret-check-uuid'


class Recorder(BaseHTTPRequestHandler):
    status = 200

    def _record(self):
        length = int(self.headers.get('Content-Length') or 0)
        self.server.pings.append((self.command, self.path, self.rfile.read(length).decode()))
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b'OK')

    do_GET = do_POST = _record

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(('127.0.0.1', 0), Recorder)
    httpd.pings, httpd.status = [], 200
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url_of(server):
    return 'http://127.0.0.1:%d/ping/%s' % (server.server_address[1], SECRET)


def test_the_three_events_hit_the_three_urls(server):
    for event in ('start', 'success', 'fail'):
        assert send_ping(url_of(server), event, timeout=5) == (True, None)
    assert [path for _method, path, _body in server.pings] == [
        '/ping/%s/start' % SECRET, '/ping/%s' % SECRET, '/ping/%s/fail' % SECRET]


def test_a_body_is_posted_without_secrets(server):
    body = 'backup failed: PAPERMERGE__DATABASE__PASSWORD=hunter2 at postgresql://pm:hunter2@db/pm'
    assert send_ping(url_of(server), 'fail', body, timeout=5)[0]
    [(method, _path, sent)] = server.pings
    assert method == 'POST' and 'hunter2' not in sent and 'backup failed' in sent


def test_an_http_error_is_a_warning_without_the_secret(server):
    server.status = 500
    delivered, warning = send_ping(url_of(server), 'success', timeout=5, retries=1)
    assert not delivered and 'HTTP 500' in warning and '2 attempt(s)' in warning
    assert SECRET not in warning and '127.0.0.1:%d' % server.server_address[1] in warning
    assert len(server.pings) == 2


def test_a_server_that_never_answers_times_out_quickly():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        url = 'http://127.0.0.1:%d/%s' % (listener.getsockname()[1], SECRET)
        delivered, warning = send_ping(url, 'start', timeout=1, retries=0)
    finally:
        listener.close()
    assert not delivered and 'timed out' in warning and SECRET not in warning


def test_nobody_listening_is_a_warning():
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    delivered, warning = send_ping('http://127.0.0.1:%d/x' % port, 'fail', 'it broke', timeout=2, retries=0)
    assert not delivered and 'could not be delivered' in warning


def test_urls_and_descriptions():
    assert ping_url('https://hc-ping.com/abc/', 'start') == 'https://hc-ping.com/abc/start'
    assert ping_url('https://kuma.example/api/push/X?status=up', 'success') == \
        'https://kuma.example/api/push/X?status=up'
    assert describe('https://hc-ping.com/%s' % SECRET) == 'https://hc-ping.com/...'
    with pytest.raises(PapermergeBackupError, match='http:// or https://') as error:
        ping_url('ftp://example.org/%s' % SECRET, 'start')
    assert SECRET not in str(error.value)


def test_bodies_are_cut():
    assert len(clean_body('x' * 5000)) == 1000
    assert clean_body('token: abc def') == 'token: *** def'
