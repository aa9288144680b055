"""The load generators' HTTP/1.1 client: GET on kept-alive connections, Content-Length bodies.

httpx spends about as much CPU on a request as the server spends serving it (0.92 ms against
1.03 ms per read by id, from /proc/<pid>/stat while bench/read.py ran on two cores): the load
generator then takes the CPU the server would use, and the figures measure the client. This
client does what wrk or k6 would, in a few tens of microseconds per request.
"""

import asyncio
from urllib.parse import urlsplit


class LeanClient:
    """`size` connections to the server of `base`, opened on first use; each request takes a
    free one, so `size` is the most requests in flight."""

    def __init__(self, base: str, headers: dict[str, str], size: int):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = {"Host": parts.netloc, **headers}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in lines.items())
        self._free: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(None)

    async def get(self, url: str) -> tuple[int, bytes]:
        """The status and body of `GET url` (an absolute URL on this server)."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = f"GET {target} HTTP/1.1\r\n{self._head}\r\n".encode()
        connection = await self._free.get()
        try:
            if connection is not None:
                try:
                    head = await _exchange(connection, request)
                except (asyncio.IncompleteReadError, ConnectionError):
                    # The server closed the kept-alive connection while it was idle.
                    connection[1].close()
                    connection = None
            if connection is None:
                connection = await asyncio.open_connection(self.host, self.port)
                head = await _exchange(connection, request)
            reader, writer = connection
            status, headers = _head(head)
            if "content-length" not in headers:
                raise RuntimeError(f"GET {target}: a response without Content-Length")
            body = await reader.readexactly(int(headers["content-length"]))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                connection = None
            return status, body
        except BaseException:
            if connection is not None:
                connection[1].close()
                connection = None
            raise
        finally:
            self._free.put_nowait(connection)

    async def aclose(self) -> None:
        while not self._free.empty():
            connection = self._free.get_nowait()
            if connection is not None:
                connection[1].close()


async def _exchange(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                    request: bytes) -> bytes:
    """Send the request; the response's head."""
    reader, writer = connection
    writer.write(request)
    return await reader.readuntil(b"\r\n\r\n")


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status code and the (lower-cased) header fields of a response head."""
    status_line, *fields = head.decode("latin-1").split("\r\n")
    headers = {}
    for field in filter(None, fields):
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers
