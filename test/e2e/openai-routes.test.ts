// e2e: a model's OpenAI methods answer the OpenAI routes under …/sync/ — Truss's snake_case
// methods in Python, camelCase in TypeScript — with 404 for a method the model lacks, and a
// generator streaming as server-sent events even when the client asked for JSON (the OpenAI SDKs
// do). The chat example is called with the official openai client.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { REPO, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-openai-'));

before(async () => {
  platform = await startPlatform();
});
after(async () => {
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

async function push(dir: string): Promise<string> {
  const r = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return (JSON.parse(r.stdout) as { model_id: string }).model_id;
}

const sync = (model: string, path: string): string =>
  `${platform.url}/models/${model}/environments/production/sync${path}`;

async function post(model: string, path: string, body: unknown): Promise<Response> {
  return fetch(sync(model, path), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
}

for (const language of ['py', 'ts']) {
  test(`a ${language === 'py' ? 'Python' : 'TypeScript'} model's five OpenAI methods answer their routes`, async () => {
    const model = await push(join(REPO, 'test', 'e2e', 'fixtures', `openai-${language}`));

    const whole = await post(model, '/v1/chat/completions', { messages: [] });
    assert.equal(whole.status, 200);
    assert.deepEqual(
      ((await whole.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message,
      {
        role: 'assistant',
        content: 'a b c',
      },
    );

    // A generator streams though the client asked for JSON.
    const streamed = await post(model, '/v1/chat/completions', { messages: [], stream: true });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = (await streamed.text()).split('\n\n').filter(Boolean);
    assert.equal(events.at(-1), 'data: [DONE]');
    const words = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e.replace(/^data: /, '')) as { choices: { delta: { content: string } }[] }).choices[0]!
            .delta.content,
      );
    assert.deepEqual(words, ['a', ' b', ' c']);

    const completion = await post(model, '/v1/completions', { prompt: 'hi' });
    assert.deepEqual(((await completion.json()) as { choices: { text: string }[] }).choices[0]!.text, 'hi!');
    const embedding = await post(model, '/v1/embeddings', { input: 'hi' });
    assert.deepEqual(
      ((await embedding.json()) as { data: { embedding: number[] }[] }).data[0]!.embedding,
      [0.5, 0.25],
    );

    // Events the model framed itself pass as they are, with no [DONE] added.
    const messages = await post(model, '/v1/messages', {});
    const text = await messages.text();
    assert.match(
      text,
      /^event: content_block_delta\ndata: \{"delta": ?\{"text": ?"x"\}\}\n\nevent: content_block_delta\n/,
    );
    assert.doesNotMatch(text, /\[DONE\]/);

    const responses = await post(model, '/v1/responses', {});
    assert.deepEqual(await responses.json(), { object: 'response', output_text: 'ok' });
    // …/predict still calls predict.
    const predicted = await fetch(`${platform.url}/models/${model}/environments/production/predict`, {
      method: 'POST',
      body: '{"x":1}',
    });
    assert.deepEqual(await predicted.json(), { predict: { x: 1 } });
  });
}

test('plinth init --template chat makes a model that streams a chat completion to the OpenAI SDK, token by token', async () => {
  const dir = join(scratch, 'my-chat');
  const init = await platform.cli(['init', dir, '--template', 'chat']);
  assert.equal(init.code, 0, init.stderr);
  const unknown = await platform.cli(['init', join(scratch, 'other'), '--template', 'nope']);
  assert.match(unknown.stderr, /--template nope: expected custom-server or chat/);
  const model = await push(dir);
  // It has chat_completions only: the other OpenAI routes are not its.
  const missing = await post(model, '/v1/embeddings', { input: 'x' });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: { message: string } }).error.message, /no embeddings/);
  const client = new OpenAI({ baseURL: sync(model, '/v1'), apiKey: platform.apiKey });
  const whole = await client.chat.completions.create({
    model: 'my-chat',
    messages: [{ role: 'user', content: 'tell me about the river' }],
    max_tokens: 10,
  });
  assert.match(whole.choices[0]!.message.content ?? '', /\w/);
  const stream = await client.chat.completions.create({
    model: 'my-chat',
    messages: [{ role: 'user', content: 'tell me about the river' }],
    max_tokens: 10,
    stream: true,
  });
  const pieces: string[] = [];
  for await (const chunk of stream) {
    const piece = chunk.choices[0]?.delta?.content;
    if (piece) pieces.push(piece);
  }
  assert.ok(pieces.length >= 5, `${pieces.length} pieces`);
});
