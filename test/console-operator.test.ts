import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { horizontalOverflow, launchBrowser, playableDuration, screenshot, skipWithoutBrowser, storedSession, watchErrors } from './helpers/browser.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';
import type { OpenAIVideosFake } from './fakes/index.js';
import { promptDirectives, startOpenAIVideosFake } from './fakes/index.js';
import { Receiver, until } from './helpers/receiver.js';
import { FAST_UPSTREAM } from './helpers/upstreams.js';
import { checkContract } from './helpers/contract.js';

// Every exchange of this file is checked against /openapi.json.
checkContract();

const ADMIN = 'console-admin-token-0123456789';
const FILE = 'test/console-operator.test.ts';
const UPSTREAM_KEY = 'sk-upstream-console-0123456789';

/**
 * The operator's pages in headless Chromium against the real gateway: keys (create and show
 * once, top up, limits, test keys, revoke, ledger), all tasks with search and a task's page,
 * usage charts, webhook endpoints and deliveries with re-send, and upstream channels (add, edit,
 * test, health and recent errors, disable and enable) against a fake OpenAI-style upstream.
 */
describe.skipIf(skipWithoutBrowser(FILE))('console: operator pages (browser)', () => {
  let gw: TestGateway;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let receiver: Receiver;
  let upstream: OpenAIVideosFake;
  const ids: Record<string, string> = {};

  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as T;
  };
  const balanceOf = async (secret: string) => {
    const res = await fetch(`${gw.url}/v1/balance`, { headers: { authorization: `Bearer ${secret}` } });
    return { status: res.status, balance: res.ok ? ((await res.json()) as { data: { balance: number } }).data.balance : null };
  };

  beforeAll(async () => {
    receiver = await Receiver.start();
    upstream = await startOpenAIVideosFake({ apiKey: UPSTREAM_KEY, script: promptDirectives({ queuedMs: 50, runMs: 300 }) });
    [gw, browser] = await Promise.all([
      startGateway({
        adminToken: ADMIN,
        billing: { sandboxPricing: 'catalogue' },
        net: { allowHosts: [], allowCidrs: ['127.0.0.1/32'] },
        webhooks: { retryBaseMs: 40, retryMultiplier: 2, retryMaxDelayMs: 400, timeoutMs: 2000 },
        upstream: FAST_UPSTREAM,
      }),
      launchBrowser(),
    ]);
    const acme = await admin<{ id: string; key: string }>('POST', '/admin/v1/keys', { name: 'acme', credit_usd: 10 });
    ids.acme = acme.id;
    await fetch(`${gw.url}/v1/webhook_endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acme.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.url}/hooks`, name: 'acme hooks' }),
    });
    const client = gw.openai(acme.key);
    ids.ok = (await client.videos.create({ model: 'sora-2', seconds: '4', size: '1280x720', prompt: 'A harbour at dawn' })).id;
    ids.failed = (await client.videos.create({ model: 'sora-2-pro', seconds: '4', size: '1280x720', prompt: 'Breaks on purpose sandbox:fail' })).id;
    await Promise.all([waitForVideo(client, ids.ok), waitForVideo(client, ids.failed)]);
    await receiver.waitFor((r) => r.accepted.length >= 2, 30_000, 'two deliveries');
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    errors = watchErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    await receiver?.stop();
    await upstream?.close();
  });

  it('signs in with the admin token alone and shows only operator pages', async () => {
    await page.goto(`${gw.url}/console/`);
    await page.getByLabel('Admin token (operators)').fill('wrong-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('This admin token was not accepted');
    await page.getByLabel('Admin token (operators)').fill(ADMIN);
    await page.getByLabel('Remember me on this browser').check();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Console' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Keys', 'Tasks', 'Usage', 'Webhooks', 'Channels']);
    expect(await storedSession(page)).toEqual([false, true]);
    await page.goto(`${gw.url}/console/playground`);
    await page.getByRole('heading', { name: 'An API key is needed' }).waitFor();
  });

  it('creates a key and shows its secret once, tops it up, sets limits, and revokes it', async () => {
    await page.goto(`${gw.url}/console/admin/keys`);
    await page.getByRole('heading', { name: 'Keys' }).waitFor();
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create an API key' });
    await dialog.getByLabel('Name').fill('studio');
    await dialog.getByLabel('Initial credit (USD)').fill('5');
    await dialog.getByLabel('Videos at once').fill('3');
    await screenshot(page, 'keys-create');
    await dialog.getByRole('button', { name: 'Create key' }).click();

    const secretDialog = page.getByRole('dialog', { name: 'Copy the new key now' });
    await secretDialog.waitFor();
    const secret = (await secretDialog.getByTestId('new-secret').textContent())!;
    expect(secret).toMatch(/^vg_live_/);
    await screenshot(page, 'keys-secret');
    expect(await balanceOf(secret)).toEqual({ status: 200, balance: 5 });
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    await secretDialog.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(secret); // shown once

    const row = page.locator('tr', { hasText: 'studio' });
    await expect.poll(() => row.getByTestId('balance').textContent()).toBe('$5.00');
    expect(await row.textContent()).toContain('3 at once');

    // Top up.
    await row.getByRole('button', { name: 'Top up studio' }).click();
    const topup = page.getByRole('dialog', { name: 'Top up studio' });
    await topup.getByLabel('Amount (USD)').fill('2.5');
    await topup.getByLabel('Note (optional)').fill('invoice 42');
    await topup.getByRole('button', { name: 'Add credit' }).click();
    await expect.poll(() => row.getByTestId('balance').textContent()).toBe('$7.50');
    expect(await balanceOf(secret)).toEqual({ status: 200, balance: 7.5 });
    await expect.poll(() => page.getByTestId('live-region').textContent()).toContain('Added $2.50 to studio.');

    // The ledger shows both credits.
    await row.getByRole('button', { name: 'Ledger of studio' }).click();
    const ledger = page.getByRole('dialog', { name: 'Ledger of studio' });
    await expect.poll(() => ledger.locator('tbody tr').count()).toBe(2);
    expect(await ledger.textContent()).toContain('invoice 42');
    await page.keyboard.press('Escape');
    await ledger.waitFor({ state: 'hidden' });

    // Limits.
    await row.getByRole('button', { name: 'Limits of studio' }).click();
    const limits = page.getByRole('dialog', { name: 'Limits of studio' });
    await limits.getByLabel('Requests per minute').fill('60');
    await limits.getByRole('button', { name: 'Save limits' }).click();
    await expect.poll(() => row.textContent()).toContain('60 req/min');
    const viewed = await admin<{ data: { name: string; rpm_limit: number; max_inflight: number }[] }>('GET', '/admin/v1/keys');
    expect(viewed.data.find((k) => k.name === 'studio')).toMatchObject({ rpm_limit: 60, max_inflight: 3 });

    // A test key: always free, so no top-up.
    await page.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByLabel('Name').fill('ci');
    await dialog.getByLabel('Test key (always the sandbox, never charged)').check();
    await dialog.getByRole('button', { name: 'Create key' }).click();
    expect(await secretDialog.getByTestId('new-secret').textContent()).toMatch(/^vg_test_/);
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    const ciRow = page.locator('tr', { hasText: 'ci' }).filter({ hasText: 'test' });
    await ciRow.waitFor();
    expect(await ciRow.getByRole('button', { name: 'Top up ci' }).count()).toBe(0);

    // Revoke.
    await row.getByRole('button', { name: 'Revoke studio' }).click();
    await page.getByRole('dialog', { name: 'Revoke studio?' }).getByRole('button', { name: 'Revoke key' }).click();
    await expect.poll(() => row.textContent()).toContain('revoked');
    expect((await balanceOf(secret)).status).toBe(401);
    await screenshot(page, 'keys');
  });

  it('searches all tasks and opens one with its events and ledger', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Tasks' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    const rows = page.getByTestId('tasks-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    await screenshot(page, 'tasks');

    await page.getByLabel('Status').selectOption('failed');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(ids.failed);
    expect(new URL(page.url()).searchParams.get('status')).toBe('failed');

    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByLabel('Video or task id').fill(ids.ok!.replace('video_', 'task_'));
    await page.getByLabel('Key').selectOption(ids.acme!);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(ids.ok);
    await page.getByLabel('Channel').fill('elsewhere');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No tasks match.').waitFor();

    await page.getByRole('button', { name: 'Clear' }).click();
    await expect.poll(() => rows.count()).toBe(2);
    await page.getByRole('link', { name: ids.failed }).click();
    await page.getByRole('heading', { name: 'Task' }).waitFor();
    expect(await page.getByTestId('error-reason').textContent()).toContain('video_generation_failed');
    const text = await page.locator('main').textContent();
    expect(text).toContain('video.failed');
    expect(text).toMatch(/hold\s*−\$1\.20/);
    expect(text).toMatch(/release\s*\$1\.20/);
    await screenshot(page, 'task-failed');

    await page.goto(`${gw.url}/console/admin/tasks/${ids.ok}`);
    expect(await playableDuration(page)).toBeGreaterThan(0);
    expect(await page.locator('main').textContent()).toContain('settle');
    await screenshot(page, 'task-completed');
  });

  it('charts seconds and cost per day and model', async () => {
    await page.goto(`${gw.url}/console/admin/usage`);
    await page.getByRole('heading', { name: 'Usage' }).waitFor();
    await expect.poll(() => page.getByTestId('total-videos').textContent()).toBe('1');
    expect(await page.getByTestId('total-seconds').textContent()).toBe('4 s');
    expect(await page.getByTestId('total-cost').textContent()).toBe('$0.40');
    const charts = page.getByRole('img', { name: /per day/ });
    expect(await charts.count()).toBe(2);
    expect(await page.locator('svg rect.bar').count()).toBe(2);
    expect(await page.locator('svg rect.bar title').first().textContent()).toMatch(/^\d{4}-\d{2}-\d{2} · sora-2: 4 s$/);
    expect(await charts.first().locator('desc').textContent()).toContain('Total 4 s over 30 days');
    await screenshot(page, 'usage');
  });

  it('lists webhook endpoints and deliveries of all keys, and re-sends one', async () => {
    await page.goto(`${gw.url}/console/admin/webhooks`);
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByTestId('endpoints-table').waitFor();
    expect(await page.getByTestId('endpoints-table').textContent()).toContain('acme hooks');
    const deliveries = page.getByTestId('deliveries').locator('> li');
    await expect.poll(() => deliveries.count()).toBe(2);
    await page.getByLabel('Event type').selectOption('video.failed');
    await expect.poll(() => deliveries.count()).toBe(1);
    const delivery = deliveries.first();
    const id = (await delivery.getAttribute('data-delivery-id'))!;
    expect(await delivery.textContent()).toContain('1 attempt');
    const before = receiver.received.filter((r) => r.headers['webhook-id'] === id).length;
    await delivery.getByRole('button', { name: `Re-send delivery ${id}` }).click();
    await receiver.waitFor((r) => r.received.filter((x) => x.headers['webhook-id'] === id).length > before, 30_000, 're-sent delivery');
    await expect.poll(async () => {
      await page.getByLabel('Delivery status').selectOption('delivered');
      return (await page.getByTestId('deliveries').textContent()) ?? '';
    }, { timeout: 20_000 }).toContain('2 attempts');
    await screenshot(page, 'webhooks');
  });

  it('adds a channel, edits, tests and disables it, and shows its health and recent errors', async () => {
    // Sign in again with a key as well, to price videos on the channel from the same session.
    const acme = await admin<{ key: string }>('POST', '/admin/v1/keys', { name: 'channel user', credit_usd: 10 });
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Channels' }).click();
    await page.getByRole('heading', { name: 'Channels' }).waitFor();
    await page.getByText('No upstream channels.').waitFor();

    await page.getByRole('button', { name: 'Add channel' }).click();
    const form = page.getByRole('dialog', { name: 'Add a channel' });
    await form.getByLabel('Id', { exact: true }).fill('acme-up');
    await form.getByLabel('Type', { exact: true }).selectOption('openai-compatible');
    await form.getByLabel('Name', { exact: true }).fill('Acme upstream');
    await form.getByLabel('Base URL').fill(upstream.baseURL);
    await form.getByLabel('API key').fill(UPSTREAM_KEY);
    await form.getByLabel('sora-2', { exact: true }).check();
    await form.getByLabel('Priority').fill('2');
    await screenshot(page, 'channels-add');
    await form.getByRole('button', { name: 'Add channel' }).click();
    await form.waitFor({ state: 'hidden' });
    const card = page.locator('[data-channel-id="acme-up"]');
    await expect.poll(() => card.getByTestId('channel-state').textContent()).toBe('Active');
    const saved = await admin<{ models: { model: string; upstream_model: string }[]; priority: number; api_key_set: boolean; base_url: string }>('GET', '/admin/v1/channels/acme-up');
    expect(saved).toMatchObject({ priority: 2, api_key_set: true, base_url: upstream.baseURL, models: [{ model: 'sora-2', upstream_model: 'sora-2' }] });
    expect(await page.content()).not.toContain(UPSTREAM_KEY);

    // Test: reachable, key accepted.
    await card.getByRole('button', { name: 'Test acme-up' }).click();
    await expect.poll(() => card.getByTestId('channel-test').textContent()).toContain('Test passed');
    // A real test job, sent to this channel only and followed to the end.
    await card.getByRole('button', { name: 'Send a test job to acme-up' }).click();
    await expect.poll(() => card.getByTestId('channel-job').textContent(), { timeout: 30_000 }).toMatch(/video_\w+: completed/);

    // Edit: weight, markup, and the model's name upstream.
    await card.getByRole('button', { name: 'Edit acme-up' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Acme upstream' });
    await edit.getByLabel('Weight').fill('3');
    await edit.getByLabel('Markup').fill('1.5');
    await edit.getByLabel('Upstream name of sora-2').fill('sora-2-upstream');
    await edit.getByRole('button', { name: 'Save channel' }).click();
    await edit.waitFor({ state: 'hidden' });
    await expect.poll(() => card.getByTestId('channel-routing').textContent()).toBe('priority 2, weight 3, markup ×1.5');
    const edited = await admin<{ weight: number; markup: number; models: { upstream_model: string }[]; api_key_set: boolean }>('GET', '/admin/v1/channels/acme-up');
    expect(edited).toMatchObject({ weight: 3, markup: 1.5, api_key_set: true, models: [{ upstream_model: 'sora-2-upstream' }] });
    // The quote follows the channel's markup: $0.10/s × 1.5.
    const quote = (await (await fetch(`${gw.url}/v1/quote?model=sora-2&size=1280x720&seconds=4`, { headers: { authorization: `Bearer ${acme.key}` } })).json()) as { price_per_second_usd: number; price_usd: number };
    expect(quote.price_per_second_usd).toBeCloseTo(0.15, 6);
    expect(quote.price_usd).toBeCloseTo(0.6, 6);

    // Videos through the channel: one the upstream refuses, one it makes.
    const client = gw.openai(acme.key);
    const bad = await client.videos.create({ model: 'sora-2', size: '1280x720', seconds: '4', prompt: 'Upstream says no [[fake: outcome=fail code=policy_violation message=Refused_by_upstream_policy]]' });
    const good = await client.videos.create({ model: 'sora-2', size: '1280x720', seconds: '4', prompt: 'Upstream renders this' });
    const [badDone, goodDone] = await Promise.all([waitForVideo(client, bad.id), waitForVideo(client, good.id)]);
    expect(badDone.status).toBe('failed');
    expect(goodDone.status).toBe('completed');
    expect(upstream.requests.filter((r) => r.route === 'submit').length).toBeGreaterThanOrEqual(2);

    await card.getByRole('button', { name: 'Health of acme-up' }).click();
    const health = card.getByTestId('channel-health');
    await health.waitFor();
    expect(await health.textContent()).toContain('closed');
    await expect.poll(() => health.getByTestId('channel-failures').textContent()).toContain(bad.id);
    expect(await health.getByTestId('channel-failures').textContent()).toContain('Refused by upstream policy');
    await screenshot(page, 'channels');

    // Disable: new tasks are refused; enable again.
    await card.getByRole('button', { name: 'Disable acme-up' }).click();
    await expect.poll(() => card.getByTestId('channel-state').textContent()).toBe('Disabled');
    expect((await admin<{ enabled: boolean }>('GET', '/admin/v1/channels/acme-up')).enabled).toBe(false);
    const refused = await fetch(`${gw.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acme.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sora-2', prompt: 'nowhere to go' }),
    });
    expect(refused.status).toBe(503);
    await card.getByRole('button', { name: 'Enable acme-up' }).click();
    await expect.poll(() => card.getByTestId('channel-state').textContent()).toBe('Active');
    await until(async () => (await admin<{ enabled: boolean }>('GET', '/admin/v1/channels/acme-up')).enabled);

    // The task list filters by channel: the test job and the two videos.
    await card.getByRole('link', { name: 'Tasks of acme-up' }).click();
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    const rows = page.getByTestId('tasks-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(3);
    expect(await page.getByLabel('Channel').inputValue()).toBe('acme-up');
  });

  it('works on a phone-sized screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    const phoneErrors = watchErrors(p);
    try {
      await p.goto(`${gw.url}/console/`);
      await p.getByLabel('Admin token (operators)').fill(ADMIN);
      await p.getByRole('button', { name: 'Sign in' }).click();
      for (const [path, name] of [['admin/tasks', 'tasks'], ['admin/keys', 'keys'], ['admin/usage', 'usage'], ['admin/webhooks', 'webhooks'], ['admin/channels', 'channels']] as const) {
        await p.goto(`${gw.url}/console/${path}`);
        await p.locator('main h1').waitFor();
        await p.waitForLoadState('networkidle');
        expect(await horizontalOverflow(p), path).toBeLessThanOrEqual(0);
        await screenshot(p, `phone-${name}`);
      }
      expect(phoneErrors).toEqual([]);
    } finally {
      await phone.close();
    }
    expect(errors).toEqual([]);
  });
});
