"""The banner of `serve --dev` (its token and curl lines): printed only once this server
answers them, never for another server on its port."""

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

TOKEN = re.compile(r"export TOKEN=(\S+)")


def test_the_dev_banner_comes_when_its_curl_lines_work(spawn, tmp_path):
    """The banner was printed as `serve --dev` started, seconds before it answered: its
    curl lines, run at once, met a refused connection."""
    server = spawn(tmp_path / "data", "--dev")
    deadline = time.monotonic() + 90
    while (token := next(iter(TOKEN.findall(server.stdout())), None)) is None:
        assert server.process.poll() is None and time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    found = httpx.get(f"{server.base}/Patient", params={"_count": "5"}, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200, found.text
    assert found.json()["entry"]


class _AnotherServer(BaseHTTPRequestHandler):
    """A server of its own: its metadata for anyone, 401 to a token it did not issue."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(401 if "Authorization" in self.headers else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_no_dev_banner_when_another_server_holds_the_port(spawn, tmp_path):
    """The banner waited for any answer on the port: another server there answered at once,
    and the banner, its token and curl lines were printed by a server that then failed to
    bind (`address already in use`); its token is no token of that other server's."""
    other = ThreadingHTTPServer(("127.0.0.1", 0), _AnotherServer)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        # One worker: uvicorn binds after start-up (several claim the port first).
        server = spawn(tmp_path / "data", "--dev", "--workers", "1",
                       port=other.server_address[1])
        code = server.process.wait(120)
    finally:
        other.shutdown()
        other.server_close()
    assert code != 0, server.output()
    assert "address already in use" in server.output().lower(), server.output()
    assert "export TOKEN" not in server.stdout(), server.stdout()
