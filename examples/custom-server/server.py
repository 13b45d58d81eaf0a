"""An OpenAI-compatible inference server for a tiny language model, deployed as a Truss
custom server (config.yaml's `docker_server` block).

The model is a word-level Markov chain (trigrams, falling back to bigrams) trained at start
from corpus.txt, so nothing is downloaded. It continues the prompt from the last words of it
that it knows. Sampling follows `temperature` (0 is greedy) and `seed` (same seed, same text).

Routes: POST /v1/chat/completions and /v1/completions (streamed with `"stream": true`),
GET /v1/models, POST /predict, GET /health/ready and /health/live.
Arguments: --port N (else the environment's PORT, else 8000).
Environment: PORT (default 8000), HOST (default 127.0.0.1; 0.0.0.0 in a Kubernetes pod), LOAD_DELAY_SECONDS (a pause before
training, to watch readiness; default 0), TOKEN_DELAY_SECONDS (between streamed tokens; 0.01).
"""
import asyncio
import json
import logging
import math
import os
import random
import re
import sys
import time
import uuid
from collections import Counter, defaultdict
from contextlib import asynccontextmanager
from pathlib import Path
from typing import List, Literal, Optional, Union

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

MODEL_ID = "tiny-markov"
CORPUS = Path(__file__).with_name("corpus.txt")
PORT = int(sys.argv[sys.argv.index("--port") + 1] if "--port" in sys.argv else os.environ.get("PORT") or 8000)
# Every address in a pod (the cluster reaches it at the pod's IP); this machine only elsewhere:
# a custom server checks no key, so it must not be open to the network.
HOST = os.environ.get("HOST") or ("0.0.0.0" if os.environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1")
LOAD_DELAY = float(os.environ.get("LOAD_DELAY_SECONDS") or 0)
TOKEN_DELAY = float(os.environ.get("TOKEN_DELAY_SECONDS") or 0.01)
DEFAULT_MAX_TOKENS = 64

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("custom-server")

# --- The model --------------------------------------------------------------------------

TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[.,;:!?]")
PUNCTUATION = set(".,;:!?")
START, END = "<s>", "</s>"  # paragraph boundaries; never part of the text produced


def tokenize(text):
    return TOKEN_RE.findall(text)


class MarkovModel:
    def __init__(self, text):
        # Counts of the token that follows two tokens (lower-cased), and one token.
        self.after_two = defaultdict(Counter)
        self.after_one = defaultdict(Counter)
        self.size = 0
        for paragraph in re.split(r"\n\s*\n", text):
            words = tokenize(paragraph)
            self.size += len(words)
            tokens = [START, START] + words + [END]
            for a, b, c in zip(tokens, tokens[1:], tokens[2:]):
                self.after_two[(a.lower(), b.lower())][c] += 1
                self.after_one[b.lower()][c] += 1

    def _context(self, prompt):
        """The last two prompt tokens if the chain knows them, else the last known one."""
        words = [t.lower() for t in tokenize(prompt)]
        if len(words) >= 2 and tuple(words[-2:]) in self.after_two:
            return tuple(words[-2:])
        known = [w for w in words if w in self.after_one]
        return (None, known[-1]) if known else (START, START)

    def _choose(self, counts, temperature, rng):
        tokens = list(counts)
        if temperature == 0:
            return max(tokens, key=counts.__getitem__)
        # Weights count^(1/T), computed relative to the largest count so that they never overflow.
        top = math.log(max(counts.values()))
        weights = [math.exp((math.log(counts[t]) - top) / temperature) for t in tokens]
        return rng.choices(tokens, weights)[0]

    def generate(self, prompt, max_tokens, temperature, rng, starts_sentence):
        """Yields up to max_tokens tokens; stops early at the end of a paragraph. Text that
        starts a sentence passes over punctuation that the chain puts first."""
        a, b = self._context(prompt)
        produced = 0
        while produced < max_tokens:
            counts = self.after_two.get((a, b)) or self.after_one.get(b) or self.after_two[(START, START)]
            token = self._choose(counts, temperature, rng)
            if token == END:
                return
            if not (starts_sentence and produced == 0 and token in PUNCTUATION):
                produced += 1
                yield token
            a, b = b, token.lower()


class Generation:
    """One request's text, produced lazily as pieces (each token with its leading space)."""

    def __init__(self, model, prompt, max_tokens, sampling, continues_prompt):
        self.prompt_tokens = len(tokenize(prompt))
        self.completion_tokens = 0
        self.max_tokens = max_tokens
        rng = random.Random(sampling.seed)
        self._tokens = model.generate(prompt, max_tokens, sampling.temperature, rng, not continues_prompt)
        self._space = continues_prompt and bool(prompt) and not prompt[-1].isspace()
        self._capitalize = not continues_prompt

    def __iter__(self):
        for token in self._tokens:
            self.completion_tokens += 1
            if self._capitalize:  # an answer, unlike a continuation, starts a sentence
                token, self._capitalize = token[:1].upper() + token[1:], False
            yield " " + token if self._space and token not in PUNCTUATION else token
            self._space = True

    @property
    def finish_reason(self):
        return "length" if self.completion_tokens >= self.max_tokens else "stop"

    @property
    def usage(self):
        prompt, completion = self.prompt_tokens, self.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- Requests (unknown fields are ignored, as OpenAI clients send many) ----------------------


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, List[TextPart], None] = None

    def text(self):
        if isinstance(self.content, list):
            return " ".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class Sampling(BaseModel):
    model: Optional[str] = None  # accepted whatever it names; answers name MODEL_ID
    max_tokens: Optional[int] = Field(None, ge=1, le=4096)
    temperature: float = Field(1.0, ge=0, le=2)
    seed: Optional[int] = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None


class ChatRequest(Sampling):
    messages: List[Message] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1, le=4096)


class CompletionRequest(Sampling):
    prompt: str


class PredictRequest(BaseModel):
    prompt: str
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, le=4096)
    temperature: float = Field(1.0, ge=0, le=2)
    seed: Optional[int] = None


# --- The app -----------------------------------------------------------------------------


def train():
    started = time.perf_counter()
    model = MarkovModel(CORPUS.read_text(encoding="utf-8"))
    elapsed_ms = (time.perf_counter() - started) * 1000
    log.info("trained on %d tokens of %s in %.1f ms", model.size, CORPUS.name, elapsed_ms)
    return model


async def load(app):
    await asyncio.sleep(LOAD_DELAY)
    try:
        app.state.model = await asyncio.to_thread(train)
    except Exception:
        log.exception("could not train the model; exiting")
        os._exit(1)  # a server that cannot load must fail visibly, not stay unready forever


@asynccontextmanager
async def lifespan(app):
    app.state.model = None
    loading = asyncio.create_task(load(app))
    log.info("listening on %s:%d (PORT=%s)", HOST, PORT, os.environ.get("PORT", "unset"))
    yield
    loading.cancel()


app = FastAPI(title="custom-server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
CREATED = int(time.time())


def error(status, message, kind="invalid_request_error", param=None):
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


@app.exception_handler(RequestValidationError)
async def on_invalid_request(request, exc):
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        where = f"{first['ctx']['error']} at character {first['loc'][-1]}"
        return error(400, f"the body is not valid JSON: {where}")
    param = ".".join(str(p) for p in first["loc"] if p != "body") or None
    return error(400, f"{param or 'body'}: {first['msg']}", param=param)


@app.exception_handler(HTTPException)
async def on_http_error(request, exc):
    return error(exc.status_code, str(exc.detail))


@app.exception_handler(Exception)
async def on_crash(request, exc):
    # Starlette still re-raises the exception after this answer, so uvicorn logs its traceback.
    return error(500, "internal error", kind="server_error")


def loaded_model(request: Request):
    return request.app.state.model


def not_ready():
    return error(503, "the model is still loading", kind="service_unavailable")


def sse(events):
    """Server-sent events: one `data:` line per chunk, then [DONE]."""

    async def lines():
        async for event in events:
            yield f"data: {json.dumps(event)}\n\n"
        yield "data: [DONE]\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(lines(), media_type="text/event-stream", headers=headers)


async def paced(generation):
    """The generation's pieces, one at a time with a pause, so a client sees them arrive."""
    for piece in generation:
        yield piece
        await asyncio.sleep(TOKEN_DELAY)


@app.get("/health/live")
async def live():
    return {"status": "live"}


@app.get("/health/ready")
async def ready(request: Request):
    return {"status": "ready"} if loaded_model(request) else not_ready()


@app.get("/v1/models")
async def models():
    entry = {"id": MODEL_ID, "object": "model", "created": CREATED, "owned_by": "plinth-examples"}
    return {"object": "list", "data": [entry]}


@app.post("/predict")
async def predict(body: PredictRequest, request: Request):
    model = loaded_model(request)
    if not model:
        return not_ready()
    generation = Generation(model, body.prompt, body.max_tokens, body, continues_prompt=True)
    return {"completion": "".join(generation)}


@app.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request):
    model = loaded_model(request)
    if not model:
        return not_ready()
    prompt = "\n".join(m.text() for m in body.messages)
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    generation = Generation(model, prompt, max_tokens, body, continues_prompt=False)
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": MODEL_ID}

    if not body.stream:
        text = "".join(generation)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                  "finish_reason": generation.finish_reason}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": generation.usage}

    def chunk(delta, finish_reason=None):
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}

    async def events():
        yield chunk({"role": "assistant", "content": ""})
        async for piece in paced(generation):
            yield chunk({"content": piece})
        yield chunk({}, generation.finish_reason)
        if body.stream_options and body.stream_options.include_usage:
            yield {**head, "object": "chat.completion.chunk", "choices": [], "usage": generation.usage}

    return sse(events())


@app.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request):
    model = loaded_model(request)
    if not model:
        return not_ready()
    max_tokens = body.max_tokens or DEFAULT_MAX_TOKENS
    generation = Generation(model, body.prompt, max_tokens, body, continues_prompt=True)
    head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": MODEL_ID}

    def choice(text, finish_reason):
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}

    if not body.stream:
        text = "".join(generation)
        return {**head, "choices": [choice(text, generation.finish_reason)], "usage": generation.usage}

    async def events():
        async for piece in paced(generation):
            yield {**head, "choices": [choice(piece, None)]}
        yield {**head, "choices": [choice("", generation.finish_reason)]}
        if body.stream_options and body.stream_options.include_usage:
            yield {**head, "choices": [], "usage": generation.usage}

    return sse(events())


if __name__ == "__main__":
    # A stream still open at SIGTERM gets a few seconds to finish, then the process exits.
    uvicorn.run(app, host=HOST, port=PORT, timeout_graceful_shutdown=5)
