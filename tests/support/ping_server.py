"""A heartbeat receiver on a loopback port that records every ping (method, path, body), as a
Healthchecks.io check would see them.  ``with PingServer() as server: server.url('check-1')``."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Recorder(BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length).decode('utf-8', 'replace')
        with self.server.lock:
            self.server.pings.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'OK')

    do_GET = do_POST = _record

    def log_message(self, *args):
        pass


class PingServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), _Recorder)
        self.httpd.pings, self.httpd.lock = [], threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def url(self, check):
        return 'http://127.0.0.1:%d/ping/%s' % (self.httpd.server_address[1], check)

    @property
    def pings(self):
        with self.httpd.lock:
            return list(self.httpd.pings)

    def paths(self):
        return [path for _method, path, _body in self.pings]
