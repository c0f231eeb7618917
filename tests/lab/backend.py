"""The slow backend behind nginx: answers GET /slow/<ms> after waiting <ms> milliseconds.

It stands for an application server that thinks before answering, so the lab can show a
long 'server' phase (time to first byte) on a clean network. Standalone (run as a script
inside the server namespace); stops on SIGTERM.
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "slow" or not parts[1].isdigit():
            self.send_error(404)
            return
        time.sleep(int(parts[1]) / 1000)
        body = b"slow answer after %s ms\n" % parts[1].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("backend: " + fmt % args + "\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
