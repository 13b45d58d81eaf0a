"""How the Python model server sends what a model produces over time: a generator's items as
chunks (cut off, never ended cleanly, when the model fails or stalls past
runtime.streaming_read_timeout; closed when the client leaves), and a starlette Response as its own
ASGI app writes it. Standard library only.
"""
import asyncio
import contextvars
import inspect
import json

from plinth_asgi import HttpReceive, HttpSend, http_scope
from plinth_http import end_chunks, write_chunk
from plinth_methods import user_traceback
from plinth_model import log_error

_DONE = object()


class ClientGone(Exception):
    """The client (the gateway) closed the connection before the answer."""


class StreamCut(Exception):
    """A stream ended without its last chunk: the connection is closed so the client sees it."""


class Streamer:
    def __init__(self, loop, executor, timeout_s):
        self.loop = loop
        self.executor = executor
        self.stream_timeout_s = timeout_s

    async def send_response(self, response, req, writer, disconnected, client, server, request_id):
        """A starlette Response the model returned, passed through as its own ASGI app writes it."""
        send = HttpSend(writer)
        try:
            await response(http_scope(req, client, server), HttpReceive(req.body, disconnected), send)
        except Exception as e:
            if not send.started:
                raise  # answered as any error of the model's
            log_error("the model's response failed part-way%s:\n%s" % (for_request(request_id), user_traceback(e)))
            abort(writer)
            raise StreamCut()
        if not send.finished:
            # A stream the client left, or an app that never said it had finished.
            abort(writer)
            raise StreamCut()
        return True

    async def next_item(self, output, disconnected):
        """The generator's next item (_DONE at its end); ClientGone when the client leaves first;
        TimeoutError after runtime.streaming_read_timeout without one."""
        if inspect.isasyncgen(output):
            step = asyncio.ensure_future(output.__anext__())
        else:
            step = asyncio.ensure_future(self.loop.run_in_executor(
                self.executor, contextvars.copy_context().run, next, output, _DONE))
        gone = asyncio.ensure_future(disconnected.wait())
        try:
            await asyncio.wait({step, gone}, timeout=self.stream_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if step.done():
            try:
                return step.result()
            except StopAsyncIteration:
                return _DONE
        step.cancel()
        if disconnected.is_set():
            raise ClientGone()
        raise asyncio.TimeoutError()

    async def stream(self, output, content_type, encode, writer, disconnected, request_id):
        head = "HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncache-control: no-cache\r\nx-plinth-stream: 1\r\ntransfer-encoding: chunked\r\n\r\n" % content_type
        writer.write(head.encode("latin-1"))
        finished = False
        try:
            await writer.drain()
            while True:
                item = await self.next_item(output, disconnected)
                if item is _DONE:
                    break
                await write_chunk(writer, encode(item))
            tail = getattr(encode, "end", None)
            if tail is not None:
                await write_chunk(writer, tail())
            await end_chunks(writer)
            finished = True
            return True
        except (ClientGone, ConnectionError):
            raise ClientGone()
        except asyncio.TimeoutError:
            log_error("the stream produced nothing for %g s (runtime.streaming_read_timeout)%s: cut off" % (
                self.stream_timeout_s, for_request(request_id)))
        except Exception as e:
            log_error("the stream failed part-way%s:\n%s" % (for_request(request_id), user_traceback(e)))
        finally:
            if not finished:
                await self.close_generator(output)
        # Without its last chunk: the client sees an incomplete response, not a short clean one.
        abort(writer)
        raise StreamCut()

    async def close_generator(self, output):
        try:
            if inspect.isasyncgen(output):
                await output.aclose()
            else:
                output.close()
        except ValueError:
            pass  # "generator already executing": it runs on in its thread and ends when it next yields
        except Exception as e:
            log_error("closing the model's generator raised:\n" + user_traceback(e))


class OpenAIEvents:
    """Encodes an OpenAI method's stream: strings and bytes as the model framed them, objects as
    SSE events, then `data: [DONE]` after objects (the OpenAI SDKs send application/json)."""

    def __init__(self):
        self.objects = False

    def __call__(self, item):
        if isinstance(item, (str, bytes, bytearray)):
            return encode_item(item, False)
        self.objects = True
        return ("data: %s\n\n" % json.dumps(item)).encode()

    def end(self):
        return b"data: [DONE]\n\n" if self.objects else b""


def abort(writer):
    try:
        writer.transport.abort()
    except Exception:
        pass


def encode_item(item, sse):
    if sse:
        text = item if isinstance(item, str) else (item.decode() if isinstance(item, (bytes, bytearray)) else json.dumps(item))
        return ("data: %s\n\n" % text).encode()
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    return (json.dumps(item) + "\n").encode()


def for_request(request_id):
    return " (request %s)" % request_id if request_id else ""
