// Many models, a page at a time, on the real server: the API's whole list and its pages agree,
// `plinth models list` reads every model a page at a time (or one page with --limit, --cursor for
// the next), and the dashboard's models page shows the first page with "Load more" for the rest.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

/** More than two of the CLI's pages (100) and of the dashboard's (50). */
const MODELS = 230;
let platform: Platform;
let browser: Browser | undefined;
let names: string[] = [];

interface ModelList {
  models: { id: string; name: string }[];
  next_cursor: string | null;
}

before(async () => {
  platform = await startPlatform();
  for (let i = 0; i < MODELS; i++) {
    const created = await platform.api('POST', '/v1/models', { name: `paged-${String(i).padStart(3, '0')}` });
    assert.equal(created.status, 201);
  }
  const whole = await platform.api<ModelList>('GET', '/v1/models');
  assert.equal(whole.body.models.length, MODELS, 'without a limit, every model');
  assert.equal(whole.body.next_cursor, null);
  names = whole.body.models.map((m) => m.name);
});
after(async () => {
  await browser?.close();
  await platform?.stop();
});

test('the API pages through every model, in the order of the whole list', async () => {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : '';
    const page: { status: number; body: ModelList } = await platform.api<ModelList>(
      'GET',
      `/v1/models?limit=64${query}`,
    );
    assert.equal(page.status, 200);
    seen.push(...page.body.models.map((m) => m.name));
    cursor = page.body.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, names);
  const bad = await platform.api<{ error: { code: string; message: string } }>(
    'GET',
    '/v1/models?limit=5000',
  );
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /query field "limit"/);
});

test('plinth models list shows every model; --limit shows a page and how to ask for the next', async () => {
  const all = await platform.cli(['models', 'list']);
  assert.equal(all.code, 0, all.stderr);
  const rows = all.stdout.trim().split('\n').slice(1);
  assert.deepEqual(
    rows.map((r) => r.split(/\s+/).at(-1)),
    names,
  );

  const json = await platform.cli(['models', 'list', '--output', 'json']);
  assert.deepEqual(
    (JSON.parse(json.stdout) as ModelList).models.map((m) => m.name),
    names,
  );

  const first = await platform.cli(['models', 'list', '--limit', '100', '--output', 'json']);
  assert.equal(first.code, 0, first.stderr);
  const page = JSON.parse(first.stdout) as ModelList;
  assert.deepEqual(
    page.models.map((m) => m.name),
    names.slice(0, 100),
  );
  assert.ok(page.next_cursor);
  const text = await platform.cli(['models', 'list', '--limit', '100', '--cursor', page.next_cursor]);
  assert.equal(text.code, 0, text.stderr);
  const second = text.stdout.trim().split('\n').slice(1);
  assert.deepEqual(
    second.map((r) => r.split(/\s+/).at(-1)),
    names.slice(100, 200),
  );
  const more = /^more: plinth models list --limit 100 --cursor (\S+)$/m.exec(text.stderr);
  assert.ok(more, text.stderr);
  const last = await platform.cli(['models', 'list', '--limit', '100', '--cursor', more[1]!]);
  assert.equal(last.stdout.trim().split('\n').length - 1, MODELS - 200);
  assert.doesNotMatch(last.stderr, /more:/, 'the last page says nothing of a next one');

  const zero = await platform.cli(['models', 'list', '--limit', '0']);
  assert.equal(zero.code, 1);
  assert.match(zero.stderr, /--limit 0: expected a whole number from 1 to 1000/);
});

test('the dashboard shows the first page of models and loads the rest a page at a time', async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
  await page.goto(platform.url);
  await page.getByLabel('API key').fill(platform.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: names[0]!, exact: true }).waitFor();
  const shown = () => page.locator('tbody tr').count();
  assert.equal(await shown(), 50);
  assert.equal(await page.getByRole('link', { name: names[50]!, exact: true }).count(), 0);
  for (const expected of [100, 150, 200, MODELS]) {
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('link', { name: names[expected - 1]!, exact: true }).waitFor();
    assert.equal(await shown(), expected);
  }
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'nothing more to load');
});
