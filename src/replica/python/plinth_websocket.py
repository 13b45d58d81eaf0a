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


class WebSocketConnection:
    """One accepted connection: `receive()` gives ("text", str), ("bytes", b) or ("close", code,
    reason); `send_*` and `close` write. Pings are answered as they arrive."""

    def __init__(self, reader, writer, ping_interval_s=None, ping_timeout_s=None, max_bytes=MAX_MESSAGE_BYTES):
        self.reader = reader
        self.writer = writer
        self.max_bytes = max_bytes
        self.closed = False
        self.close_sent = False
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self._pong = None
        self._keepalive = None
        self._write_lock = asyncio.Lock()

    def start_keepalive(self):
        if self.ping_interval_s:
            self._keepalive = asyncio.ensure_future(self._ping_loop())

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
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def _write(self, opcode, payload):
        async with self._write_lock:
            self.writer.write(encode_frame(opcode, payload))
            await self.writer.drain()

    async def receive(self):
        parts, kind, size = [], None, 0
        while True:
            try:
                fin, opcode, payload = await read_frame(self.reader, self.max_bytes)
            except ProtocolError as e:
                await self.close(e.code, str(e))
                return ("close", e.code, str(e))
            except (asyncio.IncompleteReadError, ConnectionError):
                self.closed = True
                return ("close", 1006, "")
            if opcode == PING:
                await self._write(PONG, payload)
                continue
            if opcode == PONG:
                if self._pong is not None and not self._pong.done():
                    self._pong.set_result(True)
                continue
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                text = payload[2:].decode("utf-8", "replace")
                await self.close(code if code != 1005 else 1000)
                self.closed = True
                return ("close", code, text)
            if opcode in (TEXT, BINARY):
                if kind is not None:
                    await self.close(1002, "a new message began before the last one ended")
                    return ("close", 1002, "")
                kind = opcode
            elif opcode != CONTINUATION or kind is None:
                await self.close(1002, "unknown opcode %d" % opcode)
                return ("close", 1002, "")
            size += len(payload)
            if size > self.max_bytes:
                await self.close(1009, "message too big")
                return ("close", 1009, "")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if kind == TEXT:
                    try:
                        return ("text", data.decode("utf-8"))
                    except UnicodeDecodeError:
                        await self.close(1007, "text message is not UTF-8")
                        return ("close", 1007, "")
                return ("bytes", data)

    async def send_text(self, text):
        await self._write(TEXT, text.encode("utf-8"))

    async def send_bytes(self, data):
        await self._write(BINARY, bytes(data))

    async def close(self, code=1000, reason=""):
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if self.close_sent:
            return
        self.close_sent = True
        try:
            await self._write(CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
        except (ConnectionError, RuntimeError):
            pass

    async def wait_closed(self, timeout_s):
        """After our close frame: reads until the client's answers it (or `timeout_s` passes)."""
        if self.closed:
            return
        try:
            await asyncio.wait_for(self._drain_until_close(), timeout_s)
        except (asyncio.TimeoutError, ConnectionError):
            pass

    async def _drain_until_close(self):
        while not self.closed:
            try:
                _, opcode, _ = await read_frame(self.reader, self.max_bytes)
            except (ProtocolError, asyncio.IncompleteReadError):
                return
            if opcode == CLOSE:
                self.closed = True

    def stop(self):
        if self._keepalive is not None:
            self._keepalive.cancel()

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
