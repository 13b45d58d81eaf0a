"""The model server inside a Python replica: Truss's model contract over a small HTTP/1.1 server
built on asyncio, using only the standard library so that it works with any user requirements.

Routes:  GET /  (live)   GET /v1/models/model  (ready: 503 until load() is done)
         POST /v1/models/model:predict  (with x-plinth-replica-token, where the replica has a token)
         POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/messages, /v1/responses:
              the model's OpenAI methods (404 when it has none); a generator streams as SSE
Settings come from the environment the runtime backend sets (PLINTH_*). It never imports
anything outside the standard library before the user's model.
"""
import asyncio
import contextvars
import hmac
import inspect
import json
import os
import re
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from plinth_model import REQUEST_ID, ModelHolder, RequestTaggedStream, log_error
from plinth_replica import become_replica, watch_parent

MODEL_PATH = "/v1/models/model"
PREDICT_PATH = "/v1/models/model:predict"
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Payload Too Large", 500: "Internal Server Error", 503: "Service Unavailable"}
MAX_BODY_BYTES = 256 * 1024 * 1024
_DONE = object()
# The OpenAI-compatible routes a Truss model answers with its methods of these names.
OPENAI_METHODS = {
    "/v1/chat/completions": "chat_completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/messages": "messages",
    "/v1/responses": "responses",
}


class ModelServer:
    def __init__(self, holder, predict_concurrency, token=None):
        self.holder = holder
        # What a predict request must carry in x-plinth-replica-token: only the platform's gateways
        # know it, so a local replica does not answer anyone else on the machine (none: a pod).
        self.token = token.encode() if token else None
        self.loop = None
        self.slots = None
        self.predict_concurrency = predict_concurrency
        self.executor = ThreadPoolExecutor(max_workers=predict_concurrency + 16, thread_name_prefix="model")
        self.in_flight = 0
        self.draining = False
        self.idle = None
        self.server = None

    # ---- calling the model ------------------------------------------------------------
    async def call(self, fn, *args):
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        # The worker thread runs in this task's context, so the model's prints carry the request id.
        context = contextvars.copy_context()
        result = await self.loop.run_in_executor(self.executor, context.run, fn, *args)
        if inspect.isawaitable(result):
            return await result
        return result

    async def load(self):
        try:
            t0 = time.perf_counter()
            await self.loop.run_in_executor(self.executor, self.holder.instantiate)
            t1 = time.perf_counter()
            load = getattr(self.holder.model, "load", None)
            if callable(load):
                await self.call(load)
            self.holder.ready = True
            # The cold-start benchmark reads these figures: the model's own share of a start.
            print("model loaded; ready to serve (import %.1f ms, load() %.1f ms)" % (
                (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000), flush=True)
        except BaseException as e:  # noqa: B902 - any failure ends the replica
            log_error("plinth: load() failed: %s" % (str(e) or e.__class__.__name__))
            log_error(traceback.format_exc())
            os._exit(3)

    async def is_healthy(self):
        if not self.holder.has("is_healthy"):
            return True
        try:
            return (await self.call(self.holder.model.is_healthy)) is not False
        except Exception:
            log_error("is_healthy() raised:\n" + traceback.format_exc())
            return False

    # ---- HTTP ---------------------------------------------------------------------------
    async def handle_connection(self, reader, writer):
        try:
            while True:
                request = await read_request(reader, self.admits)
                if request is None:
                    break
                method, path, headers, body = request
                keep_alive = headers.get("connection", "").lower() != "close"
                self.in_flight += 1
                try:
                    await self.route(method, path, headers, body, writer)
                finally:
                    self.in_flight -= 1
                    if self.in_flight == 0 and self.idle is not None:
                        self.idle.set()
                if not keep_alive or self.draining:
                    break
        except HttpError as e:
            code = {401: "UNAUTHORIZED", 413: "PAYLOAD_TOO_LARGE"}.get(e.status, "BAD_REQUEST")
            await send_json(writer, e.status, {"error": {"code": code, "message": e.message}}, close=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # an idle keep-alive connection at shutdown
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def route(self, method, path, headers, body, writer):
        if method == "GET" and path == "/":
            return await send_json(writer, 200, {"status": "alive"})
        if method == "GET" and path == MODEL_PATH:
            if not self.holder.ready or self.draining:
                return await send_json(writer, 503, {"status": "draining" if self.draining else "loading"})
            ok = await self.is_healthy()
            return await send_json(writer, 200 if ok else 503, {"status": "ready" if ok else "unhealthy"})
        if method == "POST" and (path == PREDICT_PATH or path in OPENAI_METHODS):
            if not self.authorized(headers):
                return await send_json(writer, 401, {"error": {"code": "UNAUTHORIZED", "message": "this replica answers only the Plinth gateway"}}, close=True)
            if not self.holder.ready:
                return await send_json(writer, 503, {"error": {"code": "MODEL_NOT_READY", "message": "the model is still loading"}})
            name = OPENAI_METHODS.get(path)
            if name and not self.holder.has(name):
                return await send_json(writer, 404, {"error": {"code": "NOT_FOUND", "message": "the model has no %s method, so it does not answer %s" % (name, path)}})
            return await self.predict(headers, body, writer, name)
        return await send_json(writer, 404, {"error": {"code": "NOT_FOUND", "message": "no route %s %s" % (method, path)}})

    def admits(self, method, path, headers):
        """Whether a request may send its body: every POST needs the replica's token."""
        return method != "POST" or self.authorized(headers)

    def authorized(self, headers):
        if self.token is None:
            return True
        sent = headers.get("x-plinth-replica-token")
        return sent is not None and hmac.compare_digest(sent.encode(), self.token)

    async def predict(self, headers, body, writer, openai_method=None):
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return await send_json(writer, 400, {"error": {"code": "BAD_REQUEST", "message": "request body is not valid JSON"}})
        model = self.holder.model
        request_id = headers.get("x-request-id")
        token = REQUEST_ID.set(request_id)
        try:
            if openai_method:
                return await self.answer_openai(getattr(model, openai_method), payload, writer, request_id)
            return await self.answer(model, payload, headers, writer, request_id)
        finally:
            REQUEST_ID.reset(token)

    async def answer(self, model, payload, headers, writer, request_id):
        try:
            if self.holder.has("preprocess"):
                payload = await self.call(model.preprocess, payload)
            async with self.slots:
                output = await self.call(model.predict, payload)
                if inspect.isasyncgen(output) or inspect.isgenerator(output):
                    sse = "text/event-stream" in headers.get("accept", "")
                    return await self.stream(
                        output, "text/event-stream" if sse else "application/octet-stream", lambda item: encode_item(item, sse), writer)
            if self.holder.has("postprocess"):
                output = await self.call(model.postprocess, output)
            if isinstance(output, (bytes, bytearray)):
                return await send_bytes(writer, 200, bytes(output), "application/octet-stream")
            return await send_json(writer, 200, output)
        except Exception as e:
            log_error("predict failed%s:\n%s" % (" (request %s)" % request_id if request_id else "", traceback.format_exc()))
            return await send_json(writer, 500, {"error": {"code": "MODEL_ERROR", "message": str(e) or e.__class__.__name__}})

    async def answer_openai(self, method, payload, writer, request_id):
        """An OpenAI method's answer: JSON, or, from a generator, a stream whatever the client's
        Accept (the OpenAI SDKs send application/json): strings and bytes as the model framed
        them, objects as SSE events, then `data: [DONE]` after objects."""
        try:
            async with self.slots:
                output = await self.call(method, payload)
                if inspect.isasyncgen(output) or inspect.isgenerator(output):
                    framed = {"objects": False}

                    def encode(item):
                        if isinstance(item, (str, bytes, bytearray)):
                            return encode_item(item, False)
                        framed["objects"] = True
                        return ("data: %s\n\n" % json.dumps(item)).encode()

                    def end():
                        return b"data: [DONE]\n\n" if framed["objects"] else b""

                    return await self.stream(output, "text/event-stream", encode, writer, end)
            if isinstance(output, (bytes, bytearray)):
                return await send_bytes(writer, 200, bytes(output), "application/octet-stream")
            return await send_json(writer, 200, output)
        except Exception as e:
            log_error("%s failed%s:\n%s" % (method.__name__, " (request %s)" % request_id if request_id else "", traceback.format_exc()))
            return await send_json(writer, 500, {"error": {"code": "MODEL_ERROR", "message": str(e) or e.__class__.__name__}})

    async def stream(self, output, content_type, encode, writer, end=lambda: b""):
        head = "HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncache-control: no-cache\r\nx-plinth-stream: 1\r\ntransfer-encoding: chunked\r\n\r\n" % content_type
        writer.write(head.encode("latin-1"))
        await writer.drain()
        try:
            if inspect.isasyncgen(output):
                async for item in output:
                    await write_chunk(writer, encode(item))
            else:
                while True:
                    item = await self.loop.run_in_executor(self.executor, contextvars.copy_context().run, next, output, _DONE)
                    if item is _DONE:
                        break
                    await write_chunk(writer, encode(item))
            await write_chunk(writer, end())
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log_error("stream failed part-way:\n" + traceback.format_exc())
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def drain(self):
        self.draining = True
        if self.server is not None:
            self.server.close()
        if self.in_flight > 0:
            self.idle = asyncio.Event()
            await self.idle.wait()

    async def serve(self, listen, parent_file):
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.predict_concurrency)
        host_port = re.match(r"^\[?([^\]/]*?)\]?:(\d+)$", listen)
        if listen.isdigit():
            self.server = await asyncio.start_server(self.handle_connection, "127.0.0.1", int(listen), limit=1 << 20)
            where = "127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]
        elif host_port:
            # host:port, as in a pod: its own IP and the port its Deployment names.
            host, port = host_port.group(1), int(host_port.group(2))
            self.server = await asyncio.start_server(self.handle_connection, host, port, limit=1 << 20)
            where = listen
        else:
            self.server = await asyncio.start_unix_server(self.handle_connection, listen)
            where = listen
        # The runtime backend reads this line to learn where the replica listens.
        print("plinth: listening on %s" % where, flush=True)
        stop = asyncio.Event()
        self.loop.add_signal_handler(signal.SIGTERM, stop.set)
        watch_parent(self.loop, stop, parent_file)
        self.loop.create_task(self.load())
        await stop.wait()
        await self.drain()


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


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
    method, path = parts[0], parts[1]
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if not admits(method, path, headers):
        raise HttpError(401, "this replica answers only the Plinth gateway")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await read_chunked(reader)
    else:
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
        body = await reader.readexactly(length) if length else b""
    return method, path.split("?", 1)[0], headers, body


async def read_chunked(reader):
    chunks = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise HttpError(413, "request body larger than %d bytes" % MAX_BODY_BYTES)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def encode_item(item, sse):
    if sse:
        text = item if isinstance(item, str) else (item.decode() if isinstance(item, (bytes, bytearray)) else json.dumps(item))
        return ("data: %s\n\n" % text).encode()
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    return (json.dumps(item) + "\n").encode()


async def write_chunk(writer, data):
    if not data:
        return
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def send_bytes(writer, status, data, content_type, close=False):
    head = "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n" % (
        status, REASONS.get(status, "OK"), content_type, len(data), "connection: close\r\n" if close else "")
    writer.write(head.encode("latin-1") + data)
    await writer.drain()


async def send_json(writer, status, value, close=False):
    await send_bytes(writer, status, json.dumps(value).encode(), "application/json", close)


def main():
    sys.stdout = RequestTaggedStream(sys.stdout)
    sys.stderr = RequestTaggedStream(sys.stderr)
    parent_file = become_replica()
    env = os.environ
    # The model's code has no use for it: only the server keeps it.
    token = env.pop("PLINTH_REPLICA_TOKEN", None)
    config = json.loads(env.get("PLINTH_CONFIG_JSON") or "{}")
    secrets = json.loads(env.get("PLINTH_SECRETS_JSON") or "{}")
    environment = json.loads(env.get("PLINTH_ENVIRONMENT_JSON") or "null")
    holder = ModelHolder(env["PLINTH_APP_DIR"], env["PLINTH_MODEL_FILE"], config, secrets, environment)
    concurrency = int((config.get("runtime") or {}).get("predict_concurrency") or 1)
    server = ModelServer(holder, concurrency, token)
    asyncio.run(server.serve(env.get("PLINTH_LISTEN") or "0", parent_file))
    os._exit(0)


if __name__ == "__main__":
    main()
