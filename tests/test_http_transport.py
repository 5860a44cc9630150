"""The HTTP transport (httptools over asyncio streams) against a real local server: what it sends (JSON, form,
multipart files, the caller's headers winning), what it returns (status, decoded body, kept headers), how
it says there was no answer (refused, timeout), and that a kept-alive connection is reused, and replaced
when the server has closed it in the meantime."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

import pytest

from remediator.backends.http import HttpError, Request, StreamTransport

from .support import serving


class Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON; ``/slow`` first sleeps, ``/close`` closes."""

    protocol_version = "HTTP/1.1"
    connections: set[int] = set()

    def do_ANY(self) -> None:
        Echo.connections.add(id(self.connection))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/slow":
            threading.Event().wait(1.0)
        doc = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"),
        }
        out = json.dumps(doc).encode("utf-8")
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-Service", "echo")
        self.send_header("X-Dropped", "not kept")
        self.send_header("Content-Length", str(len(out)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(out)
        except BrokenPipeError:  # /slow: the client timed out and left
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_ANY

    def log_message(self, *_: object) -> None:
        return None


def send_all(*requests: Request) -> list[object]:
    """Each request in turn on one transport; an ``HttpError`` is returned in its place."""

    async def main() -> list[object]:
        t = StreamTransport(4)
        out: list[object] = []
        try:
            for r in requests:
                try:
                    out.append(await t.send(r))
                except HttpError as exc:
                    out.append(exc)
        finally:
            await t.close()
        return out

    return asyncio.run(main())


def test_get_returns_status_body_and_only_the_kept_headers() -> None:
    with serving(Echo) as url:
        (resp,) = send_all(Request("GET", f"{url}/api/health?x=1"))
    doc = json.loads(resp.body)  # type: ignore[attr-defined]
    assert resp.status == 200  # type: ignore[attr-defined]
    assert doc["path"] == "/api/health?x=1" and doc["body"] == ""
    assert doc["headers"]["host"] == url.removeprefix("http://")
    headers = resp.headers  # type: ignore[attr-defined]
    assert headers["content-type"] == "application/json; charset=utf-8" and headers["x-service"] == "echo"
    assert "x-dropped" not in headers and "content-length" not in headers


def test_credentials_in_the_url_are_basic_auth_not_part_of_the_host() -> None:
    with serving(Echo) as url:
        (resp,) = send_all(Request("GET", url.replace("http://", "http://probe:s%40cret@") + "/x"))
    headers = json.loads(resp.body)["headers"]  # type: ignore[attr-defined]
    assert headers["host"] == url.removeprefix("http://")
    assert headers["authorization"] == "Basic cHJvYmU6c0BjcmV0"  # probe:s@cret


def test_json_form_and_files_are_encoded_with_their_content_type() -> None:
    with serving(Echo) as url:
        as_json, form, files, own = send_all(
            Request("POST", url, json={"user": "probe", "n": 1}),
            Request("POST", url, form={"a": "1", "b": "x y"}),
            Request(
                "POST", url, files={"file": {"content": "hello\n", "filename": "a.txt", "content_type": "text/plain"}}
            ),
            Request("POST", url, headers={"Content-Type": "application/vnd.x+json"}, json=[1]),
        )
    doc = json.loads(as_json.body)  # type: ignore[attr-defined]
    assert as_json.status == 201  # type: ignore[attr-defined]
    assert doc["headers"]["content-type"] == "application/json" and json.loads(doc["body"]) == {"user": "probe", "n": 1}
    doc = json.loads(form.body)  # type: ignore[attr-defined]
    assert doc["headers"]["content-type"] == "application/x-www-form-urlencoded" and doc["body"] == "a=1&b=x+y"
    doc = json.loads(files.body)  # type: ignore[attr-defined]
    head = f"Content-Type: {doc['headers']['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + doc["body"].encode("latin-1"))
    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "a.txt" and part.get_content_type() == "text/plain"
    assert part.get_payload(decode=True) == b"hello\n"
    doc = json.loads(own.body)  # type: ignore[attr-defined]
    assert doc["headers"]["content-type"] == "application/vnd.x+json"


def test_a_kept_alive_connection_is_reused_and_a_closed_one_replaced() -> None:
    Echo.connections.clear()
    with serving(Echo) as url:
        answers = send_all(*(Request("GET", f"{url}/n/{i}") for i in range(3)))
        assert all(a.status == 200 for a in answers)  # type: ignore[attr-defined]
        assert len(Echo.connections) == 1
        answers = send_all(Request("GET", f"{url}/close"), Request("GET", f"{url}/after"))
        assert [a.status for a in answers] == [200, 200]  # type: ignore[attr-defined]


def test_a_server_that_closed_an_idle_connection_does_not_fail_the_next_request() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    port = sock.getsockname()[1]

    def serve() -> None:  # answers one request per connection and closes it, without saying so
        for _ in range(2):
            conn, _ = sock.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> list[int]:
        t = StreamTransport(1)
        try:
            first = await t.send(Request("GET", f"http://127.0.0.1:{port}/"))
            await asyncio.sleep(0.2)  # the server's close arrives
            second = await t.send(Request("GET", f"http://127.0.0.1:{port}/"))
            return [first.status, second.status]
        finally:
            await t.close()

    try:
        assert asyncio.run(main()) == [200, 200]
    finally:
        sock.close()


def test_no_answer_is_an_http_error_of_one_short_line() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with serving(Echo) as url:
        refused, slow = send_all(
            Request("GET", f"http://127.0.0.1:{port}/"), Request("GET", f"{url}/slow", timeout=0.2)
        )
    assert str(refused) == "connection refused"
    assert str(slow) == "timeout after 0.2 s"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost"])
def test_a_url_that_is_not_http_is_refused_before_any_connection(url: str) -> None:
    (err,) = send_all(Request("GET", url))
    assert isinstance(err, HttpError) and "not an http(s) URL" in str(err)


def _raw_server(answers: list[bytes]) -> tuple[int, socket.socket, list[bytes]]:
    """A server that reads one request per connection, sends the next canned answer and closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    got: list[bytes] = []

    def serve() -> None:
        for answer in answers:
            conn, _ = sock.accept()
            got.append(conn.recv(65536))
            conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1], sock, got


@pytest.mark.parametrize(
    ("method", "answer", "status", "body"),
    [
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, "abcde"),
        ("GET", b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", 200, "until the end"),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 200, ""),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n", 204, ""),
        (
            "GET",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=latin-1\r\nContent-Length: 4\r\n\r\ncaf\xe9",
            200,
            "caf\u00e9",
        ),
    ],
)
def test_how_a_response_ends_chunked_at_close_head_no_content(
    method: str, answer: bytes, status: int, body: str
) -> None:
    port, sock, _ = _raw_server([answer])
    try:
        (got,) = send_all(Request(method, f"http://127.0.0.1:{port}/", timeout=5))
    finally:
        sock.close()
    assert not isinstance(got, HttpError), got
    assert (got.status, got.body) == (status, body)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "closed the connection before the response ended"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "closed the connection before the response"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP/1.1 response"),
    ],
)
def test_a_response_cut_short_or_not_http_is_one_line_of_error(answer: bytes, said: str) -> None:
    port, sock, _ = _raw_server([answer])
    try:
        (got,) = send_all(Request("GET", f"http://127.0.0.1:{port}/", timeout=5))
    finally:
        sock.close()
    assert isinstance(got, HttpError) and said in str(got) and "\n" not in str(got)


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "http://127.0.0.1:9/", headers={"X-Token": "a\r\nX-Injected: 1"}),
        Request("GET", "http://127.0.0.1:9/", headers={"Bad Name": "v"}),
        Request("GET", "http://127.0.0.1:9/a b"),
    ],
)
def test_a_header_or_target_that_could_end_a_line_is_refused_unsent(request_: Request) -> None:
    (got,) = send_all(request_)
    assert isinstance(got, HttpError) and "not a valid" in str(got)


def test_a_response_is_freed_when_its_exchange_ends_not_left_to_the_collector() -> None:
    """A parser and its callbacks object refer to each other; left as a cycle, each response waits for a
    full collection, and a run's ``gc.freeze`` (runner) keeps postponing that: a watch grew by 17 kB a
    cycle. The exchange cuts the cycle, so plain reference counting frees them at once."""
    import gc

    from remediator.backends import http

    gc.collect()
    gc.disable()
    try:
        with serving(Echo) as url:
            answers = send_all(*(Request("GET", f"{url}/n/{i}") for i in range(50)))
        left = [o for o in gc.get_objects() if isinstance(o, http._Parsed)]
    finally:
        gc.enable()
    assert all(a.status == 200 for a in answers)  # type: ignore[attr-defined]
    assert not left
