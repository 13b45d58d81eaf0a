"""A tiny language model behind Truss's OpenAI-style `chat_completions` method.

load() trains a word-level Markov chain (trigrams, falling back to bigrams) on data/corpus.txt,
so nothing is downloaded. It continues from the last words of the prompt that it knows;
`temperature` 0 is greedy and a `seed` makes the text repeatable. Standard library only.

As Truss serves it: `chat_completions` answers POST /v1/chat/completions. With "stream": true it
returns a generator of server-sent-event strings ("data: {chunk}\n\n", then "data: [DONE]\n\n"),
which Truss passes to the client as they come; otherwise a `chat.completion` dict.
`predict` takes {"prompt", "max_tokens"} and answers {"completion"}.
"""
import json
import math
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

MODEL_ID = "tiny-markov"
DEFAULT_MAX_TOKENS = 64
TOKEN_DELAY_SECONDS = 0.01  # between streamed tokens, so that a client sees them arrive one by one
TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[.,;:!?]")
PUNCTUATION = set(".,;:!?")
START, END = "<s>", "</s>"  # paragraph boundaries; never part of the text produced


def tokenize(text):
    return TOKEN_RE.findall(text)


class Model:
    def __init__(self, data_dir=None, **kwargs):
        self._corpus = Path(data_dir or Path(__file__).resolve().parent.parent / "data") / "corpus.txt"
        self._after_two = None  # counts of the token that follows two tokens (lower-cased)
        self._after_one = None  # ... and one token

    def load(self):
        self._after_two, self._after_one = defaultdict(Counter), defaultdict(Counter)
        for paragraph in re.split(r"\n\s*\n", self._corpus.read_text(encoding="utf-8")):
            tokens = [START, START] + tokenize(paragraph) + [END]
            for a, b, c in zip(tokens, tokens[1:], tokens[2:]):
                self._after_two[(a.lower(), b.lower())][c] += 1
                self._after_one[b.lower()][c] += 1

    # --- Truss methods -----------------------------------------------------------------------

    def predict(self, model_input):
        prompt = _field(model_input, "prompt", str)
        max_tokens = _max_tokens(model_input.get("max_tokens"))
        tokens = self._generate(prompt, max_tokens, *_sampling(model_input), starts_sentence=False)
        continues = bool(prompt) and not prompt[-1].isspace()
        return {"completion": "".join(_pieces(tokens, leading_space=continues, capitalize=False))}

    def chat_completions(self, model_input):
        messages = _field(model_input, "messages", list)
        texts_only = all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
        if not messages or not texts_only:
            raise ValueError('"messages" must be a non-empty list of {"role", "content": "text"}')
        prompt = "\n".join(m["content"] for m in messages)
        max_tokens = _max_tokens(model_input.get("max_completion_tokens") or model_input.get("max_tokens"))
        tokens = self._generate(prompt, max_tokens, *_sampling(model_input), starts_sentence=True)
        pieces = _pieces(tokens, leading_space=False, capitalize=True)
        head = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": MODEL_ID}
        if model_input.get("stream"):
            return self._stream(head, pieces, max_tokens)
        pieces = list(pieces)
        usage = {"prompt_tokens": len(tokenize(prompt)), "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        choice = {"index": 0, "message": {"role": "assistant", "content": "".join(pieces)}, "logprobs": None,
                  "finish_reason": _finish_reason(len(pieces), max_tokens)}
        return {**head, "object": "chat.completion", "choices": [choice], "usage": usage}

    # --- The chain ---------------------------------------------------------------------------

    def _generate(self, prompt, max_tokens, temperature, seed, starts_sentence):
        """Yields up to max_tokens tokens as they are chosen; stops early at a paragraph's end.
        Text that starts a sentence passes over punctuation that the chain puts first."""
        rng = random.Random(seed)
        a, b = self._context(prompt)
        produced = 0
        while produced < max_tokens:
            counts = self._after_two.get((a, b)) or self._after_one.get(b) or self._after_two[(START, START)]
            token = _choose(counts, temperature, rng)
            if token == END:
                return
            if not (starts_sentence and produced == 0 and token in PUNCTUATION):
                produced += 1
                yield token
            a, b = b, token.lower()

    def _context(self, prompt):
        """The last two prompt tokens if the chain knows them, else the last known one."""
        words = [t.lower() for t in tokenize(prompt)]
        if len(words) >= 2 and tuple(words[-2:]) in self._after_two:
            return tuple(words[-2:])
        known = [w for w in words if w in self._after_one]
        return (None, known[-1]) if known else (START, START)

    def _stream(self, head, pieces, max_tokens):
        """chat.completion.chunk events: the role, one per token, the finish reason, [DONE]."""

        def event(delta, finish_reason=None):
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            chunk = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            return "data: " + json.dumps(chunk) + "\n\n"

        yield event({"role": "assistant", "content": ""})
        count = 0
        for piece in pieces:
            count += 1
            yield event({"content": piece})
            time.sleep(TOKEN_DELAY_SECONDS)
        yield event({}, _finish_reason(count, max_tokens))
        yield "data: [DONE]\n\n"


def _field(model_input, name, kind):
    if not isinstance(model_input, dict) or not isinstance(model_input.get(name), kind):
        raise ValueError('expected a JSON object with "%s" (%s)' % (name, kind.__name__))
    return model_input[name]


def _max_tokens(value):
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
        raise ValueError('"max_tokens" must be an integer from 1 to 4096')
    return value


def _sampling(model_input):
    temperature, seed = model_input.get("temperature", 1.0), model_input.get("seed")
    is_number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not is_number or not 0 <= temperature <= 2:
        raise ValueError('"temperature" must be a number from 0 to 2')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError('"seed" must be an integer')
    return temperature, seed


def _choose(counts, temperature, rng):
    tokens = list(counts)
    if temperature == 0:
        return max(tokens, key=counts.__getitem__)
    # Weights count^(1/T), computed relative to the largest count so that they never overflow.
    top = math.log(max(counts.values()))
    return rng.choices(tokens, [math.exp((math.log(counts[t]) - top) / temperature) for t in tokens])[0]


def _pieces(tokens, leading_space, capitalize):
    """Each token with the space before it; an answer's first word capitalized."""
    for i, token in enumerate(tokens):
        if i == 0 and capitalize:
            token = token[:1].upper() + token[1:]
        yield " " + token if (i > 0 or leading_space) and token not in PUNCTUATION else token


def _finish_reason(count, max_tokens):
    return "length" if count >= max_tokens else "stop"
