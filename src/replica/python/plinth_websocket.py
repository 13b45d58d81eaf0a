"""The WebSocket protocol (RFC 6455) on asyncio streams, for a model's `websocket(ws)`: the opening
handshake's answer, frames read and written, fragmented messages joined, pings answered, the
closing handshake, and keepalive pings (runtime.transport). Standard library only.
"""
import asyncio
import base64
import hashlib
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ProtocolError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode("latin-1") + GUID).digest()).decode()


def is_upgrade(headers):
    return (headers.get("upgrade", "").lower() == "websocket"
            and "upgrade" in headers.get("connection", "").lower()
            and bool(headers.get("sec-websocket-key")))


def encode_frame(opcode, payload, fin=True):
    """A server's frame: never masked."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


async def read_frame(reader, max_bytes):
    """(fin, opcode, payload) of one client frame; a client's frames must be masked."""
    b0, b1 = await reader.readexactly(2)
    fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if b0 & 0x70:
        raise ProtocolError(1002, "reserved bits set without an extension")
    if not masked:
        raise ProtocolError(1002, "a client frame was not masked")
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    if opcode >= CLOSE and (n > 125 or not fin):
        raise ProtocolError(1002, "a control frame was fragmented or longer than 125 bytes")
    if n > max_bytes:
        raise ProtocolError(1009, "a frame of %d bytes is over the %d-byte limit" % (n, max_bytes))
    mask = await reader.readexactly(4)
    raw = await reader.readexactly(n)
    if n == 0:
        return bool(fin), opcode, b""
    key = (mask * (n // 4 + 1))[:n]
    data = (int.from_bytes(raw, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return bool(fin), opcode, data


# Close codes a peer may send (RFC 6455 7.4, and the registered and private ranges).
VALID_CLOSE_CODES = set(range(1000, 1004)) | set(range(1007, 1015)) | set(range(3000, 5000))
QUEUED_MESSAGES = 64


class WebSocketConnection:
    """One accepted connection. A reader task owns the socket from `start()` on: it answers pings,
    notes pongs (so keepalive holds while the model is busy or only sends), joins fragments and
    queues messages (at most 64: then the client waits) for `receive()`, which gives ("text", str),
    ("bytes", b) or, from then on, ("close", code, reason). `send_*` and `close` write."""

    def __init__(self, reader, writer, ping_interval_s=None, ping_timeout_s=None, max_bytes=MAX_MESSAGE_BYTES):
        self.reader = reader
        self.writer = writer
        self.max_bytes = max_bytes
        self.started = False
        self.closed = False
        self.close_sent = False
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self._messages = asyncio.Queue(QUEUED_MESSAGES)
        self._final = None
        self._ended = asyncio.Event()
        self._pong = None
        self._tasks = []
        self._write_lock = asyncio.Lock()

    def start(self):
        """The handshake is answered: read the client's frames, and ping it if asked to."""
        self.started = True
        self._tasks.append(asyncio.ensure_future(self._read_loop()))
        if self.ping_interval_s:
            self._tasks.append(asyncio.ensure_future(self._ping_loop()))

    async def _ping_loop(self):
        try:
            while not self.closed:
                await asyncio.sleep(self.ping_interval_s)
                self._pong = asyncio.get_running_loop().create_future()
                await self._write(PING, b"plinth")
                try:
                    await asyncio.wait_for(self._pong, self.ping_timeout_s or self.ping_interval_s)
                except asyncio.TimeoutError:
                    await self.close(1011, "keepalive ping timeout")
                    self.abort()
                    await self._end(("close", 1011, "keepalive ping timeout"))
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def _write(self, opcode, payload):
        async with self._write_lock:
            self.writer.write(encode_frame(opcode, payload))
            await self.writer.drain()

    async def _end(self, message):
        if self._final is not None:
            return
        self.closed = True
        self._final = message
        self._ended.set()
        if self._messages.empty():
            self._messages.put_nowait(message)  # wakes a receive() already waiting

    async def _fail(self, code, reason):
        await self.close(code, reason)
        await self._end(("close", code, reason))

    async def _read_loop(self):
        parts, kind, size = [], None, 0
        try:
            while True:
                fin, opcode, payload = await read_frame(self.reader, self.max_bytes)
                if opcode == PING:
                    await self._write(PONG, payload)
                    continue
                if opcode == PONG:
                    if self._pong is not None and not self._pong.done():
                        self._pong.set_result(True)
                    continue
                if opcode == CLOSE:
                    return await self._closed_by_client(payload)
                if opcode in (TEXT, BINARY):
                    if kind is not None:
                        return await self._fail(1002, "a new message began before the last one ended")
                    kind = opcode
                elif opcode != CONTINUATION or kind is None:
                    return await self._fail(1002, "unexpected opcode %d" % opcode)
                size += len(payload)
                if size > self.max_bytes:
                    return await self._fail(1009, "message too big")
                parts.append(payload)
                if not fin:
                    continue
                data = b"".join(parts)
                if kind == TEXT:
                    try:
                        message = ("text", data.decode("utf-8"))
                    except UnicodeDecodeError:
                        return await self._fail(1007, "text message is not UTF-8")
                else:
                    message = ("bytes", data)
                parts, kind, size = [], None, 0
                await self._messages.put(message)
        except ProtocolError as e:
            await self._fail(e.code, str(e))
        except (asyncio.IncompleteReadError, ConnectionError):
            await self._end(("close", 1006, ""))

    async def _closed_by_client(self, payload):
        if len(payload) == 1:
            return await self._fail(1002, "a close frame with a one-byte payload")
        if not payload:
            await self.close(1000)
            return await self._end(("close", 1005, ""))
        code = struct.unpack("!H", payload[:2])[0]
        if code not in VALID_CLOSE_CODES:
            return await self._fail(1002, "close code %d is not one a client may send" % code)
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            return await self._fail(1007, "close reason is not UTF-8")
        await self.close(code)
        await self._end(("close", code, reason))

    async def receive(self):
        if self._final is not None and self._messages.empty():
            return self._final
        return await self._messages.get()

    async def send_text(self, text):
        await self._write(TEXT, text.encode("utf-8"))

    async def send_bytes(self, data):
        await self._write(BINARY, bytes(data))

    async def close(self, code=1000, reason=""):
        if self.close_sent:
            return
        self.close_sent = True
        try:
            await self._write(CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
        except (ConnectionError, RuntimeError):
            pass

    async def wait_closed(self, timeout_s):
        """After our close frame: waits until the client answers it (or `timeout_s` passes)."""
        try:
            await asyncio.wait_for(self._ended.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass

    def stop(self):
        for task in self._tasks:
            task.cancel()

    def abort(self):
        self.closed = True
        try:
            self.writer.transport.abort()
        except Exception:
            pass


def handshake_response(key, subprotocol=None, headers=()):
    lines = ["HTTP/1.1 101 Switching Protocols", "upgrade: websocket", "connection: Upgrade",
             "sec-websocket-accept: " + accept_key(key)]
    if subprotocol:
        lines.append("sec-websocket-protocol: " + subprotocol)
    lines.extend("%s: %s" % (k, v) for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
