"""HTTP/1.1 over asyncio streams for the Python model server: reading one request (its head is
checked before its body is read) and writing answers, fixed-length or chunked, with model outputs
made JSON (numpy arrays and scalars, pydantic models). Standard library only; imports nothing of
the model's packages.
"""
import asyncio
import json
from http import HTTPStatus

MAX_BODY_BYTES = 256 * 1024 * 1024
MAX_HEADER_LINES = 256


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class HttpRequest:
    """One request as read: `headers` by lower-case name (the last of repeated ones), `raw_headers`
    as sent (ASGI's list of byte pairs, for fastapi.Request)."""

    __slots__ = ("method", "path", "query", "headers", "raw_headers", "body")

    def __init__(self, method, path, query, headers, raw_headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_headers = raw_headers
        self.body = body


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status %d" % status


async def read_request(reader, admits=lambda method, path, headers: True):
    """One request, or None at the end of the connection. `admits` sees the head before the body
    is read: a request it refuses costs no more than its head."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise HttpError(400, "incomplete request head")
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(400, "request head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    if len(lines) > MAX_HEADER_LINES:
        raise HttpError(400, "more than %d header lines" % MAX_HEADER_LINES)
    method, target = parts[0], parts[1]
    headers = {}
    raw_headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = value
        raw_headers.append((name.encode("latin-1"), value.encode("latin-1")))
    path, _, query = target.partition("?")
    if not admits(method, path, headers):
        raise HttpError(401, "this replica answers only the Plinth gateway")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            raise HttpError(400, "content-length is not a number")
        if length > MAX_BODY_BYTES:
            raise HttpError(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
        body = await reader.readexactly(length) if length > 0 else b""
    return HttpRequest(method, path, query, headers, raw_headers, body)


async def read_chunked(reader):
    chunks = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise HttpError(400, "malformed chunk size")
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise HttpError(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _module_of(value):
    return type(value).__module__.split(".", 1)[0]


def jsonable(value):
    """`json.dumps`'s default: numpy arrays and scalars as lists and numbers, pydantic models as
    their JSON form; anything else is refused, naming its type."""
    if _module_of(value) == "numpy":
        if hasattr(value, "tolist"):
            return value.tolist()
    if callable(getattr(value, "model_dump", None)) and hasattr(type(value), "model_fields"):
        return value.model_dump(mode="json")
    if callable(getattr(value, "dict", None)) and hasattr(type(value), "__fields__"):
        return json.loads(value.json())  # pydantic 1
    raise TypeError("the model returned a %s, which is not JSON serializable" % type(value).__name__)


def json_bytes(value):
    return json.dumps(value, default=jsonable).encode()


async def send_bytes(writer, status, data, content_type, close=False, headers=()):
    lines = ["HTTP/1.1 %d %s" % (status, reason(status)), "content-type: " + content_type,
             "content-length: %d" % len(data)]
    lines.extend("%s: %s" % (k, v) for k, v in headers)
    if close:
        lines.append("connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
    await writer.drain()


async def send_json(writer, status, value, close=False, headers=()):
    await send_bytes(writer, status, json_bytes(value), "application/json", close, headers)


def error_body(code, message, **extra):
    body = {"error": {"code": code, "message": message}}
    body.update(extra)
    return body


async def write_chunk(writer, data):
    if not data:
        return
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def end_chunks(writer):
    writer.write(b"0\r\n\r\n")
    await writer.drain()
