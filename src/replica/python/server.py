"""The model server inside a Python replica: Truss's model contract over a small HTTP/1.1 server
built on asyncio, using only the standard library so that it works with any user requirements.

Routes:  GET /  (live)   GET /v1/models/model  (ready: 503 until load() is done, or while
              is_healthy() says no)
         POST /v1/models/model:predict  (with x-plinth-replica-token, where the replica has a token)
         POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/messages, /v1/responses:
              the model's OpenAI methods (404 when it has none); a generator streams as SSE
         GET  /v1/websocket  (an upgrade, with the token): the model's `websocket(ws)`
         POST /v1/environment  (with the token): the environment the deployment now serves
Settings come from the environment the runtime backend sets (PLINTH_*). It never imports
anything outside the standard library before the user's model; starlette only for a model that
asks for its objects (fastapi.Request, Response returns, websockets).
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
from concurrent.futures import ThreadPoolExecutor

from plinth_asgi import HttpReceive, WebSocketBridge, disconnect_watch, is_response, make_request, make_websocket
from plinth_http import HttpError, error_body, read_request, reason, send_bytes, send_json
from plinth_methods import (INPUT, INPUT_AND_REQUEST, InvalidInput, ModelDefinitionError, is_http_exception,
                            user_traceback, validate_input)
from plinth_model import REQUEST_ID, ModelHolder, RequestTaggedStream, log_error
from plinth_replica import become_replica, watch_parent
from plinth_streams import ClientGone, OpenAIEvents, StreamCut, Streamer, encode_item, for_request
from plinth_websocket import WebSocketConnection, is_upgrade

MODEL_PATH = "/v1/models/model"
PREDICT_PATH = "/v1/models/model:predict"
WEBSOCKET_PATH = "/v1/websocket"
ENVIRONMENT_PATH = "/v1/environment"
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
    def __init__(self, holder, config, token=None):
        self.holder = holder
        runtime = config.get("runtime") or {}
        transport = runtime.get("transport") or {}
        # What a request must carry in x-plinth-replica-token: only the platform's gateways know
        # it, so a local replica does not answer anyone else on the machine (none: a pod).
        self.token = token.encode() if token else None
        self.loop = None
        self.slots = None
        self.predict_concurrency = int(runtime.get("predict_concurrency") or 1)
        self.stream_timeout_s = float(runtime.get("streaming_read_timeout") or 60)
        self.streamer = None
        self.ping_interval_s = transport.get("ping_interval_seconds")
        self.ping_timeout_s = transport.get("ping_timeout_seconds")
        self.executor = ThreadPoolExecutor(max_workers=self.predict_concurrency + 16, thread_name_prefix="model")
        self.in_flight = 0
        self.draining = False
        self.idle = None
        self.server = None
        self.healthy = True
        self.websockets = set()

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

    async def invoke(self, method, value, request, disconnected):
        """Calls one step; a client that leaves cancels an async step at once (a thread cannot be
        stopped: its slot is held until it returns, and its answer dropped)."""
        args = method.arguments(value, request)
        if method.is_generator:
            return method.fn(*args)
        task = asyncio.ensure_future(self.call(method.fn, *args))
        gone = asyncio.ensure_future(disconnected.wait())
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if task.done():
            return task.result()
        task.cancel()
        if not method.is_async:
            await asyncio.wait({task})
        raise ClientGone()

    async def load(self):
        try:
            t0 = time.perf_counter()
            await self.loop.run_in_executor(self.executor, self.holder.instantiate)
            t1 = time.perf_counter()
            setup = self.holder.methods.setup_environment
            # As Truss: before load() only when the deployment serves an environment.
            set_up = self.holder.environment
            if setup is not None and set_up is not None:
                print("calling setup_environment(%s)" % json.dumps(set_up), flush=True)
                await self.call(setup.fn, set_up)
            load = getattr(self.holder.model, "load", None)
            if callable(load):
                await self.call(load)
            while setup is not None and self.holder.environment != set_up:
                # A promotion moved the deployment while it loaded: set up for where it is now,
                # before it is ready (no await between the last check and ready).
                set_up = self.holder.environment
                await self.run_setup_environment(set_up)
            self.holder.ready = True
            # The cold-start benchmark reads these figures: the model's own share of a start.
            print("model loaded; ready to serve (import %.1f ms, load() %.1f ms)" % (
                (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000), flush=True)
        except BaseException as e:  # noqa: B902 - any failure ends the replica
            log_error("plinth: load() failed: %s" % (str(e) or e.__class__.__name__))
            log_error(user_traceback(e))
            os._exit(3)

    async def set_environment(self, environment):
        """A promotion moved the deployment into another environment: setup_environment again
        (a replica still loading runs it once load() is done). False when it raised."""
        if environment == self.holder.environment:
            return True
        self.holder.environment = environment
        if not self.holder.ready:
            return True
        return await self.run_setup_environment(environment)

    async def run_setup_environment(self, environment):
        setup = self.holder.methods.setup_environment if self.holder.methods else None
        if setup is None:
            return True
        print("calling setup_environment(%s)" % json.dumps(environment), flush=True)
        try:
            await self.call(setup.fn, environment)
            return True
        except Exception as e:
            log_error("setup_environment() raised:\n" + user_traceback(e))
            return False

    async def is_healthy(self):
        check = self.holder.methods.is_healthy if self.holder.methods else None
        if check is None:
            return True
        try:
            healthy = (await self.call(check.fn)) is not False
            if not healthy and self.healthy:
                log_error("is_healthy() returned False: the replica reports unhealthy")
        except Exception as e:
            healthy = False
            log_error("is_healthy() raised:\n" + user_traceback(e))
        if healthy and not self.healthy:
            print("is_healthy() is true again", flush=True)
        self.healthy = healthy
        return healthy

    # ---- HTTP ---------------------------------------------------------------------------
    async def handle_connection(self, reader, writer):
        try:
            while True:
                req = await read_request(reader, self.admits)
                if req is None:
                    break
                keep_alive = req.headers.get("connection", "").lower() != "close"
                self.in_flight += 1
                try:
                    done = await self.route(req, reader, writer)
                finally:
                    self.in_flight -= 1
                    if self.in_flight == 0 and self.idle is not None:
                        self.idle.set()
                if done is False or not keep_alive or self.draining:
                    break
        except HttpError as e:
            code = {401: "UNAUTHORIZED", 413: "PAYLOAD_TOO_LARGE"}.get(e.status, "BAD_REQUEST")
            await send_json(writer, e.status, error_body(code, e.message), close=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # an idle keep-alive connection at shutdown
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def route(self, req, reader, writer):
        """Answers one request; False when the connection cannot carry another."""
        method, path, headers = req.method, req.path, req.headers
        if method == "GET" and path == "/":
            return await send_json(writer, 200, {"status": "alive"})
        if method == "GET" and path == MODEL_PATH:
            if not self.holder.ready or self.draining:
                return await send_json(writer, 503, {"status": "draining" if self.draining else "loading"})
            ok = await self.is_healthy()
            return await send_json(writer, 200 if ok else 503, {"status": "ready" if ok else "unhealthy"})
        if method == "GET" and path == WEBSOCKET_PATH:
            return await self.serve_websocket(req, reader, writer)
        if method == "POST" and (path == PREDICT_PATH or path in OPENAI_METHODS or path == ENVIRONMENT_PATH):
            if not self.authorized(headers):
                await send_json(writer, 401, error_body("UNAUTHORIZED", "this replica answers only the Plinth gateway"), close=True)
                return False
            if path == ENVIRONMENT_PATH:
                # Kept while the model loads: setup_environment runs for it before ready.
                return await self.environment_changed(req, writer)
            if not self.holder.ready:
                return await send_json(writer, 503, error_body("MODEL_NOT_READY", "the model is still loading"))
            name = OPENAI_METHODS.get(path)
            if name and self.holder.methods.openai.get(name) is None:
                return await send_json(writer, 404, error_body("NOT_FOUND", "the model has no %s method, so it does not answer %s" % (name, path)))
            if not name and self.holder.methods.predict is None:
                return await send_json(writer, 404, error_body("NOT_FOUND", "the model has a websocket method and no predict: connect to …/websocket"))
            return await self.predict(req, reader, writer, name)
        return await send_json(writer, 404, error_body("NOT_FOUND", "no route %s %s" % (method, path)))

    def admits(self, method, path, headers):
        """Whether a request may send its body: every POST needs the replica's token."""
        return method != "POST" or self.authorized(headers)

    def authorized(self, headers):
        if self.token is None:
            return True
        sent = headers.get("x-plinth-replica-token")
        return sent is not None and hmac.compare_digest(sent.encode(), self.token)

    async def environment_changed(self, req, writer):
        try:
            environment = json.loads(req.body)["environment"]
            if environment is not None and not isinstance(environment.get("name"), str):
                raise TypeError("no name")
        except (ValueError, KeyError, TypeError, AttributeError):
            return await send_json(writer, 400, error_body("BAD_REQUEST", 'expected {"environment": {"name": …} | null}'))
        if not await self.set_environment(environment):
            return await send_json(writer, 500, error_body("MODEL_ERROR", "setup_environment() raised; its traceback is in the deployment's logs"))
        return await send_json(writer, 200, {"environment": environment})

    async def predict(self, req, reader, writer, openai_name=None):
        request_id = req.headers.get("x-request-id")
        token = REQUEST_ID.set(request_id)
        disconnected = asyncio.Event()
        watch = disconnect_watch(reader, disconnected)
        try:
            return await self.answer(req, writer, openai_name, disconnected, request_id)
        except ClientGone:
            log_error("the client went away%s: the model's work for it was cancelled" % for_request(request_id))
            return False
        except StreamCut:
            return False
        finally:
            watch.cancel()
            REQUEST_ID.reset(token)

    def client_and_server(self, writer):
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("sockname")
        client = tuple(peer[:2]) if isinstance(peer, tuple) else None
        server = tuple(sock[:2]) if isinstance(sock, tuple) else None
        return client, server

    async def answer(self, req, writer, openai_name, disconnected, request_id):
        try:
            return await self.run_model(req, writer, openai_name, disconnected, request_id)
        except (ClientGone, StreamCut):
            raise
        except Exception as e:
            return await self.send_error(e, writer, request_id)

    async def run_model(self, req, writer, openai_name, disconnected, request_id):
        methods = self.holder.methods
        steps = [methods.openai[openai_name]] if openai_name else [methods.preprocess, methods.predict]
        steps = [s for s in steps if s is not None]
        post = None if openai_name else methods.postprocess
        first = steps[0]
        payload = None
        if first.args in (INPUT, INPUT_AND_REQUEST):
            try:
                payload = json.loads(req.body) if req.body else {}
            except ValueError:
                return await send_json(writer, 400, error_body("BAD_REQUEST", "request body is not valid JSON"))
            if first.input_type is not None:
                try:
                    payload = validate_input(first.input_type, payload)
                except InvalidInput as e:
                    body = dict(error_body("INVALID_INPUT", str(e)), detail=e.errors)
                    return await send_json(writer, 422, body)
        client, server = self.client_and_server(writer)
        receive = HttpReceive(req.body, disconnected)
        wants_request = any(s.wants_request for s in steps) or (post is not None and post.wants_request)
        request = make_request(req, receive, client, server) if wants_request else None
        sse = "text/event-stream" in req.headers.get("accept", "")
        if len(steps) == 2:
            payload = await self.invoke(steps[0], payload, request, disconnected)
        async with self.slots:
            output = await self.invoke(steps[-1], payload, request, disconnected)
            if inspect.isasyncgen(output) or inspect.isgenerator(output):
                if post is not None:
                    raise ModelDefinitionError("predict returned a generator (a stream), so postprocess cannot run: do all the processing in predict")
                if openai_name:
                    return await self.streamer.stream(output, "text/event-stream", OpenAIEvents(), writer, disconnected, request_id)
                encode = (lambda item: encode_item(item, sse))
                return await self.streamer.stream(output, "text/event-stream" if sse else "application/octet-stream", encode, writer, disconnected, request_id)
            if is_response(output):
                if post is not None:
                    raise ModelDefinitionError("predict returned a Response, so postprocess cannot run")
                return await self.streamer.send_response(output, req, writer, disconnected, client, server, request_id)
        if post is not None:
            output = await self.invoke(post, output, request, disconnected)
            if is_response(output):
                return await self.streamer.send_response(output, req, writer, disconnected, client, server, request_id)
        if isinstance(output, (bytes, bytearray)):
            return await send_bytes(writer, 200, bytes(output), "application/octet-stream")
        return await send_json(writer, 200, output)

    async def send_error(self, e, writer, request_id):
        if is_http_exception(e):
            log_error("the model raised HTTPException %d%s:\n%s" % (e.status_code, for_request(request_id), user_traceback(e)))
            detail = e.detail
            message = detail if isinstance(detail, str) else json.dumps(detail, default=str)
            headers = list((getattr(e, "headers", None) or {}).items())
            if e.status_code in (204, 304) or e.status_code < 200:
                # A status that has no body is sent without one.
                lines = ["HTTP/1.1 %d %s" % (e.status_code, reason(e.status_code))] + ["%s: %s" % h for h in headers]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                return await writer.drain()
            body = dict(error_body("MODEL_HTTP_ERROR", message), detail=detail)
            return await send_json(writer, e.status_code, body, headers=headers)
        if isinstance(e, ModelDefinitionError):
            log_error("the model broke Truss's contract%s: %s" % (for_request(request_id), e))
            return await send_json(writer, 500, error_body("MODEL_DEFINITION_ERROR", str(e)))
        log_error("predict failed%s:\n%s" % (for_request(request_id), user_traceback(e)))
        # As Truss: the message stays in the logs; the caller learns where to look.
        return await send_json(writer, 500, error_body(
            "MODEL_ERROR", "Internal Server Error in the model; its traceback is in the deployment's logs%s" % for_request(request_id)))

    # ---- websockets ---------------------------------------------------------------------
    async def serve_websocket(self, req, reader, writer):
        if not self.authorized(req.headers):
            await send_json(writer, 401, error_body("UNAUTHORIZED", "this replica answers only the Plinth gateway"), close=True)
            return False
        if not self.holder.ready:
            return await send_json(writer, 503, error_body("MODEL_NOT_READY", "the model is still loading"))
        method = self.holder.methods.websocket
        if method is None:
            await send_json(writer, 404, error_body("NOT_FOUND", "the model has no websocket method"), close=True)
            return False
        if not is_upgrade(req.headers):
            await send_json(writer, 400, error_body("BAD_REQUEST", "…/websocket takes a WebSocket upgrade"), close=True)
            return False
        request_id = req.headers.get("x-request-id")
        token = REQUEST_ID.set(request_id)
        connection = WebSocketConnection(reader, writer, self.ping_interval_s, self.ping_timeout_s)
        bridge = WebSocketBridge(req, writer, connection)
        client, server = self.client_and_server(writer)
        self.websockets.add(connection)
        try:
            ws = make_websocket(req, bridge, client, server)
            async with self.slots:
                try:
                    # As Truss's server: the model is handed an accepted socket, and its own
                    # accept() (which Truss models may still call) does nothing.
                    await ws.accept()
                    ws.accept = already_accepted
                    await method.fn(ws)
                    if bridge.accepted:
                        await connection.close(1000)
                except Exception as e:
                    if type(e).__name__ == "WebSocketDisconnect":
                        pass  # the client left; nothing went wrong
                    elif bridge.accepted:
                        log_error("websocket() raised%s:\n%s" % (for_request(request_id), user_traceback(e)))
                        await connection.close(1011, "the model raised an error")
                    elif not bridge.refused:
                        await self.send_error(e, writer, request_id)
                        return False
            await connection.wait_closed(1.0)
        except ConnectionError:
            pass
        finally:
            self.websockets.discard(connection)
            connection.stop()
            REQUEST_ID.reset(token)
        return False

    # ---- lifecycle ----------------------------------------------------------------------
    async def drain(self):
        self.draining = True
        if self.server is not None:
            self.server.close()
        # Open websockets are asked to go (1001): their models see the client leave.
        for connection in list(self.websockets):
            if connection.started:
                await connection.close(1001, "the replica is stopping")
        if self.in_flight > 0:
            self.idle = asyncio.Event()
            await self.idle.wait()

    async def serve(self, listen, parent_file):
        self.loop = asyncio.get_running_loop()
        self.slots = asyncio.Semaphore(self.predict_concurrency)
        self.streamer = Streamer(self.loop, self.executor, self.stream_timeout_s)
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


async def already_accepted(*_args, **_kwargs):
    return None


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
    server = ModelServer(holder, config, token)
    asyncio.run(server.serve(env.get("PLINTH_LISTEN") or "0", parent_file))
    os._exit(0)


if __name__ == "__main__":
    main()
