// Browser tests of the dashboard with playwright-core and Debian's chromium, against a real
// server with real deployments: sign in, see a model, promote deployment-2 and watch the
// environment card switch, change max_replica and see the API report it, send a playground
// request, and see a log line the model printed after the page opened. Screenshots of the main
// pages go to test-results/dashboard/ (git-ignored).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { writeTree } from '../support/write-tree.ts';
import { REPO, startPlatform } from './harness.ts';
import type { Platform } from './harness.ts';

let platform: Platform;
let browser: Browser;
let page: Page;
const scratch = mkdtempSync(join(tmpdir(), 'plinth-e2e-dash-'));
const shots = join(REPO, 'test-results', 'dashboard');
let second: { deployment_id: string };

const model = (version: number) => `export class Model {
  predict(input: { say?: string }) {
    if (input.say) console.log('model says ' + input.say);
    return { version: ${version}, echo: input.say ?? null };
  }
}\n`;

before(async () => {
  mkdirSync(shots, { recursive: true });
  platform = await startPlatform();
  const dir = join(scratch, 'dash');
  writeTree(dir, { 'config.yaml': 'model_name: dash\n', 'model/model.ts': model(1) });
  assert.equal((await platform.cli(['push', dir])).code, 0);
  writeTree(dir, { 'model/model.ts': model(2) });
  const pushed = await platform.cli(['push', dir, '--output', 'json']);
  assert.equal(pushed.code, 0, pushed.stderr);
  second = JSON.parse(pushed.stdout) as { deployment_id: string };
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
});
after(async () => {
  await browser?.close();
  await platform?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

test('sign in with the API key and see the model', async () => {
  await page.goto(platform.url);
  await page.getByLabel('API key').fill('plk_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').getByText('That API key was not accepted.').waitFor();
  await page.getByLabel('API key').fill(platform.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'dash' }).waitFor();
  assert.match(await page.locator('table').innerText(), /dash\s+production\s+deployment-1 · ACTIVE/);
  await page.screenshot({ path: join(shots, 'models.png'), fullPage: true });
});

test('promote deployment-2 and watch the environment card switch', async () => {
  await page.getByRole('link', { name: 'dash' }).click();
  const serves = page.getByTestId('environment-production').getByTestId('serves');
  await serves.getByText('deployment-1').waitFor();
  await page.getByTestId('deployment-deployment-2').getByRole('button', { name: 'Promote' }).click();
  const dialog = page.getByRole('dialog');
  assert.match(await dialog.innerText(), /Promote deployment-2 to production\?/);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await serves.getByText('deployment-2').waitFor({ timeout: 30_000 });
  const env = await platform.api<{ current_deployment_id: string }>(
    'GET',
    '/v1/models/dash/environments/production',
  );
  assert.equal(env.body.current_deployment_id, second.deployment_id);
  await page.screenshot({ path: join(shots, 'model.png'), fullPage: true });
});

test('change max_replica in the settings form and see the API report it; a bad value shows the API refusal', async () => {
  const form = page.getByRole('form', { name: 'production settings' });
  await form.getByLabel('Max replicas').fill('0');
  await form.getByRole('button', { name: 'Save settings' }).click();
  await form
    .getByRole('alert')
    .getByText(/max_replica/)
    .waitFor();
  await form.getByLabel('Max replicas').fill('3');
  await form.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').getByText('Saved the production settings').waitFor();
  const env = await platform.api<{ autoscaling_settings: { max_replica: number } }>(
    'GET',
    '/v1/models/dash/environments/production',
  );
  assert.equal(env.body.autoscaling_settings.max_replica, 3);
  const d = await platform.api<{ autoscaling_settings: { max_replica: number } }>(
    'GET',
    `/v1/models/dash/deployments/${second.deployment_id}`,
  );
  assert.equal(d.body.autoscaling_settings.max_replica, 3, 'the deployment it serves follows');
});

test('the playground answers, and a line the model prints after the page opened appears in the logs', async () => {
  await page.goto(`${platform.url}/#/models/dash/deployments/${second.deployment_id}`);
  await page.getByRole('heading', { name: /deployment-2/ }).waitFor();
  await page
    .getByTestId('async-queue')
    .getByText(/^async queue: \d+ queued · \d+ in progress$/)
    .waitFor();
  await page.getByLabel('Request (JSON)').fill('{"say": "from-playground"}');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('answer').getByText('"echo":"from-playground"').waitFor();
  assert.match(await page.getByTestId('answer').innerText(), /"version":2/);

  const marker = `after-open-${Date.now()}`;
  const res = await fetch(`${platform.url}/models/dash/production/predict`, {
    method: 'POST',
    body: JSON.stringify({ say: marker }),
  });
  assert.equal(res.status, 200);
  await page.getByTestId('logs').getByText(`model says ${marker}`).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(shots, 'deployment.png'), fullPage: true });
});

test("the chat box streams a chat model's answer, and says so for a model without a chat route", async () => {
  const pushed = await platform.cli([
    'push',
    join(REPO, 'test', 'e2e', 'fixtures', 'openai-ts'),
    '--output',
    'json',
  ]);
  assert.equal(pushed.code, 0, pushed.stderr);
  await page.goto(`${platform.url}/#/models/openai-ts/environments/production`);
  await page.getByRole('heading', { name: /production environment/ }).waitFor();
  await page.getByLabel('Message').fill('hello');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByTestId('chat-user').getByText('hello').waitFor();
  await page.getByTestId('chat-assistant').getByText('a b c').waitFor();
  await page.screenshot({ path: join(shots, 'chat.png'), fullPage: true });

  await page.goto(`${platform.url}/#/models/dash/environments/production`);
  await page.getByRole('heading', { name: /production environment/ }).waitFor();
  await page.getByLabel('Message').fill('hello');
  await page.getByRole('button', { name: 'Ask' }).click();
  await page.getByText('This model has no chat route').waitFor();
});

test('the environment card offers each promotion control and activate/deactivate; the environment page shows who did what', async () => {
  interface Env {
    is_active: boolean;
    current_deployment_id: string;
    in_progress_promotion: { is_paused: boolean; phase: string } | null;
  }
  const env = async () => (await platform.api<Env>('GET', '/v1/models/dash/environments/production')).body;
  await platform.api('PATCH', '/v1/models/dash/environments/production', {
    promotion_settings: { ramp_up_while_promoting: true, ramp_up_duration_seconds: 600 },
  });
  const promoted = await platform.api('POST', '/v1/models/dash/environments/production/promote', {
    deployment_id: 'deployment-1',
  });
  assert.equal(promoted.status, 202, JSON.stringify(promoted.body));
  await page.goto(`${platform.url}/#/models/dash`);
  const card = page.getByTestId('environment-production');
  await card
    .getByRole('status')
    .getByText(/ramping/)
    .waitFor({ timeout: 60_000 });
  const confirm = async (button: string) => {
    await card.getByRole('button', { name: button, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  };
  await confirm('Pause');
  await card
    .getByRole('status')
    .getByText(/paused/)
    .waitFor();
  assert.equal((await env()).in_progress_promotion?.is_paused, true);
  await confirm('Resume');
  await card.getByRole('button', { name: 'Pause', exact: true }).waitFor();
  assert.equal((await env()).in_progress_promotion?.is_paused, false);
  await confirm('Force cancel');
  await card.getByRole('status').waitFor({ state: 'detached' });
  const after = await env();
  assert.equal(after.in_progress_promotion, null);
  assert.equal(after.current_deployment_id, second.deployment_id, 'traffic stayed on deployment-2');

  await confirm('Deactivate environment');
  await card.getByRole('button', { name: 'Activate environment' }).waitFor();
  assert.equal((await env()).is_active, false);
  await confirm('Activate environment');
  await card.getByRole('button', { name: 'Deactivate environment' }).waitFor();
  assert.equal((await env()).is_active, true);

  await page.goto(`${platform.url}/#/models/dash/environments/production`);
  const history = page.getByRole('region', { name: 'promotion history' });
  await page.getByRole('heading', { name: /production environment/ }).waitFor();
  await history.getByText(/CANCELLED/).waitFor();
  assert.match(await history.innerText(), /promote by .*pause by .*resume by .*force cancel by /s);
  await page.screenshot({ path: join(shots, 'promotion-controls.png'), fullPage: true });
});
