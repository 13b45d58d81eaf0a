"""Starlette's own objects for a Truss model, over the model server's streams: the ASGI scope,
`receive` and `send` of one HTTP request (for `request: fastapi.Request` parameters and for
`Response`/`StreamingResponse` returns) and of one WebSocket (for `websocket(ws)`). Starlette is
imported only when a model asks for one of its objects, so a model without them starts as fast as
the standard library allows.
"""
import asyncio
from urllib.parse import unquote

from plinth_http import reason
from plinth_websocket import handshake_response

ASGI = {"version": "3.0", "spec_version": "2.3"}


def scope_of(kind, req, client, server):
    return {
        "type": kind,
        "asgi": ASGI,
        "http_version": "1.1",
        "method": req.method,
        "scheme": "http" if kind == "http" else "ws",
        "path": unquote(req.path),
        "raw_path": req.path.encode("latin-1"),
        "query_string": req.query.encode("latin-1"),
        "root_path": "",
        "headers": req.raw_headers,
        "client": client,
        "server": server,
    }


def http_scope(req, client, server):
    return scope_of("http", req, client, server)


class HttpReceive:
    """The request body at the first call; then waits until the client has gone."""

    def __init__(self, body, disconnected):
        self.body = body
        self.disconnected = disconnected
        self.given = False

    async def __call__(self):
        if not self.given:
            self.given = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}


def make_request(req, receive, client, server):
    """A `fastapi.Request` (starlette's) for one HTTP request."""
    from starlette.requests import Request

    request = Request(scope_of("http", req, client, server), receive)
    # The body is already read: `is_disconnected()` (which takes a message from `receive`) must not
    # make a later `body()` or `json()` wait for one that never comes.
    request._body = req.body
    return request


def is_response(value):
    """Whether a model returned a starlette (fastapi) Response, without importing starlette."""
    return any(c.__name__ == "Response" and c.__module__ == "starlette.responses" for c in type(value).__mro__)


class HttpSend:
    """ASGI `send` for one response, written as HTTP/1.1: at the length the app gave, else chunked."""

    def __init__(self, writer, extra_headers=()):
        self.writer = writer
        self.extra_headers = extra_headers
        self.started = False
        self.finished = False
        self.chunked = False
        self.status = None

    async def __call__(self, message):
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
            headers = [(k, v) for k, v in headers if k.lower() not in ("transfer-encoding", "connection")]
            bodyless = self.status in (204, 304) or self.status < 200
            if bodyless:
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            self.chunked = not bodyless and not any(k.lower() == "content-length" for k, _ in headers)
            lines = ["HTTP/1.1 %d %s" % (self.status, reason(self.status))]
            lines.extend("%s: %s" % (k, v) for k, v in list(headers) + list(self.extra_headers))
            if self.chunked:
                lines.append("transfer-encoding: chunked")
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self.started = True
            await self.writer.drain()
        elif kind == "http.response.body":
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.chunked:
                if body:
                    self.writer.write(b"%x\r\n%s\r\n" % (len(body), body))
                if not more:
                    self.writer.write(b"0\r\n\r\n")
            elif body and self.status not in (204, 304):
                self.writer.write(body)
            await self.writer.drain()
            if not more:
                self.finished = True


class WebSocketBridge:
    """ASGI `receive` and `send` of one WebSocket over a WebSocketConnection (the handshake's answer
    is written when the model accepts; a close before that refuses with 403)."""

    def __init__(self, req, writer, connection):
        self.req = req
        self.writer = writer
        self.connection = connection
        self.connected = False
        self.accepted = False
        self.refused = False

    async def receive(self):
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        message = await self.connection.receive()
        if message[0] == "text":
            return {"type": "websocket.receive", "text": message[1]}
        if message[0] == "bytes":
            return {"type": "websocket.receive", "bytes": message[1]}
        return {"type": "websocket.disconnect", "code": message[1], "reason": message[2]}

    async def send(self, message):
        kind = message["type"]
        if kind == "websocket.accept":
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers") or []]
            self.writer.write(handshake_response(
                self.req.headers["sec-websocket-key"], message.get("subprotocol"), headers))
            await self.writer.drain()
            self.accepted = True
            self.connection.start()
        elif kind == "websocket.send":
            if message.get("text") is not None:
                await self.connection.send_text(message["text"])
            else:
                await self.connection.send_bytes(message.get("bytes") or b"")
        elif kind == "websocket.close":
            if not self.accepted:
                self.refused = True
                body = b"the model closed the websocket before accepting it"
                self.writer.write(("HTTP/1.1 403 %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
                    reason(403), len(body))).encode("latin-1") + body)
                await self.writer.drain()
            else:
                await self.connection.close(message.get("code", 1000), message.get("reason") or "")


def make_websocket(req, bridge, client, server):
    """A `fastapi.WebSocket` (starlette's) for one upgrade request."""
    from starlette.websockets import WebSocket

    scope = scope_of("websocket", req, client, server)
    protocols = req.headers.get("sec-websocket-protocol")
    scope["subprotocols"] = [p.strip() for p in protocols.split(",")] if protocols else []
    return WebSocket(scope, receive=bridge.receive, send=bridge.send)


def disconnect_watch(reader, disconnected, interval_s=0.2):
    """Sets `disconnected` once the client has closed its side (the gateway gave up on the
    request); returns the task to cancel when the request is answered."""

    async def watch():
        while not disconnected.is_set():
            if reader.at_eof() or reader.exception() is not None:
                disconnected.set()
                return
            await asyncio.sleep(interval_s)

    return asyncio.ensure_future(watch())
