"""Streams one token at a time from an async generator, as a text-generation model would."""
import asyncio
import json
import time


class Model:
    async def predict(self, model_input):
        words = (model_input.get("prompt") or "the quick brown fox jumps over the lazy dog").split()
        count = min(int(model_input.get("tokens", len(words))), 1000)
        delay = min(float(model_input.get("delay_ms", 100)), 5000) / 1000
        with_time = bool(model_input.get("with_time"))
        return self._tokens(words, count, delay, with_time)

    async def _tokens(self, words, count, delay, with_time):
        for i in range(count):
            token = words[i % len(words)]
            if with_time:
                yield json.dumps({"token": token, "produced_at_ms": int(time.time() * 1000)}) + "\n"
            else:
                yield token + "\n"
            await asyncio.sleep(delay)
