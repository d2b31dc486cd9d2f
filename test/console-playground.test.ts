import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { horizontalOverflow, inPage, launchBrowser, playableDuration, screenshot, skipWithoutBrowser, storedSession, videoTime, waitInPage, watchErrors } from './helpers/browser.js';
import { startGateway, waitForVideo } from './helpers/gateway.js';
import type { TestGateway } from './helpers/gateway.js';

const ADMIN = 'console-admin-token-0123456789';
const FILE = 'test/console-playground.test.ts';

/**
 * The console as a key's user sees it, in headless Chromium against the real gateway: sign in,
 * the playground from prompt to a playing video (price first, live progress from the event
 * stream, reference upload, spritesheet scrubbing, download, remix), the gallery and a video's
 * page, a phone-sized screen, and sign-out.
 */
describe.skipIf(skipWithoutBrowser(FILE))('console: playground and gallery (browser)', () => {
  let gw: TestGateway;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let tmp: string;
  let failedId: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'vidgate-console-'));
    // Renders take a couple of seconds so the progress bar has something to show.
    [gw, browser] = await Promise.all([
      startGateway({ adminToken: ADMIN, billing: { sandboxPricing: 'catalogue' }, sandbox: { queueMs: 300, msPerVideoSecond: 600, longQueueMs: 60_000, concurrency: 2 } }),
      launchBrowser(),
    ]);
    await fetch(`${gw.url}/admin/v1/keys/${gw.keyId}/credit`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount_usd: 25 }),
    });
    // A failed video for the gallery's error states.
    const client = gw.openai();
    failedId = (await client.videos.create({ model: 'sora-2', seconds: '4', prompt: 'A glitchy render sandbox:fail' })).id;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    errors = watchErrors(page);
    await waitForVideo(client, failedId);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await gw?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('refuses a wrong key with a clear message, then signs in', async () => {
    await page.goto(`${gw.url}/console`);
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key').fill('vg_live_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('This API key was not accepted');
    expect(await page.getByLabel('API key').getAttribute('aria-invalid')).toBe('true');

    await page.getByLabel('API key').fill(gw.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Playground' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/playground');
    // Kept for this tab only (no "remember me").
    expect(await storedSession(page)).toEqual([true, false]);
  });

  it('shows the controls each model\'s capabilities allow, models grouped by maker with their price', async () => {
    const quote = page.getByTestId('quote');
    const model = page.getByLabel('Model');
    // Grouped by maker, each with its price per second.
    expect(await model.locator('optgroup').evaluateAll((gs) => gs.map((g) => g.getAttribute('label')))).toEqual(expect.arrayContaining(['openai', 'google', 'kuaishou', 'bytedance']));
    expect(await model.locator('optgroup[label=google] option').first().textContent()).toBe('Veo 3.1 — from $0.20/s');
    // Sora: portrait or landscape, silent, first frame only.
    await expect.poll(() => page.getByTestId('audio-note').textContent()).toContain('silent');
    expect(await page.getByLabel('Last frame (optional)', { exact: false }).count()).toBe(0);
    expect(await page.getByLabel('Seed (optional)').count()).toBe(0);

    await model.selectOption('veo-3.1-generate-001');
    const size = page.getByLabel('Size');
    expect(await size.locator('optgroup').evaluateAll((gs) => gs.map((g) => g.getAttribute('label')))).toEqual(['720p', '1080p', '4k']);
    await size.selectOption('1920x1080');
    await page.getByLabel('Duration').selectOption('8');
    await expectText(quote, 'Price: $3.20 — 8 s × $0.40/s');
    await page.getByLabel('Generate an audio track').uncheck();
    await expectText(quote, 'Price: $1.60 — 8 s × $0.20/s');
    await page.getByRole('group', { name: 'Last frame (optional)' }).waitFor();
    await page.getByLabel('Seed (optional)').waitFor();
    await page.getByLabel('Negative prompt (optional)').waitFor();
    await page.getByLabel('Reference images (optional, up to 3)').waitFor();

    // Kling: square, modes, the mode prices the video.
    await model.selectOption('kling-v2-6');
    await size.selectOption('720x720');
    await page.getByLabel('Mode', { exact: true }).selectOption('std');
    await expectText(quote, 'Price: $0.21 — 5 s × $0.042/s');
    expect(await size.locator('option[value="adaptive@720p"]').count()).toBe(1);
    await screenshot(page, 'playground-capabilities');
    expect(errors).toEqual([]);
    // Back to a fresh form for the next test.
    await page.reload();
    await page.getByRole('heading', { name: 'Playground' }).waitFor();
  });

  it('makes a video: price first, live progress, then it plays, scrubs and downloads', async () => {
    const quote = page.getByTestId('quote');
    await expectText(quote, 'Price: $0.40 — 4 s × $0.10/s');
    await page.getByLabel('Size').selectOption('1280x720');
    await page.getByLabel('Duration').selectOption('8');
    await expectText(quote, 'Price: $0.80 — 8 s × $0.10/s');
    await page.getByLabel('Model').selectOption('sora-2-pro');
    await page.getByLabel('Size').selectOption('1792x1024');
    await expectText(quote, '$4.00 — 8 s × $0.50/s');
    await page.getByLabel('Size').selectOption('1280x720');
    await page.getByLabel('Duration').selectOption('4');
    await expectText(quote, 'Price: $1.20 — 4 s × $0.30/s. Available credit: $25.00');

    // A reference image from the disk, previewed before sending.
    const image = path.join(tmp, 'first-frame.png');
    await sharp({ create: { width: 640, height: 360, channels: 3, background: '#1e90ff' } }).png().toFile(image);
    await page.getByText('Upload', { exact: true }).click();
    await page.getByLabel('Image file (JPEG, PNG or WebP)').setInputFiles(image);
    await page.getByRole('img', { name: 'Reference image: first-frame.png' }).waitFor();

    await page.getByLabel('Prompt').fill('A lighthouse in a storm, waves crashing');
    await screenshot(page, 'playground-form');
    // Record every progress value the page shows while the video renders.
    await inPage(
      page,
      `(() => {
        const seen = (window.seen = []);
        new MutationObserver(() => {
          const p = document.querySelector('[data-testid=progress]');
          if (p && seen[seen.length - 1] !== p.value) seen.push(p.value);
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      })()`,
    );
    await page.getByRole('button', { name: 'Generate for $1.20' }).click();

    const panel = page.getByTestId('run-panel');
    await panel.waitFor();
    await page.getByRole('progressbar').waitFor();
    await screenshot(page, 'playground-progress');
    await panel.and(page.locator('[data-status=completed]')).waitFor({ timeout: 45_000 });

    const seen = await inPage<number[]>(page, 'window.seen');
    expect(seen.some((v) => v > 0 && v < 100), `progress values shown: ${seen.join(', ')}`).toBe(true);
    const events = await page.getByTestId('event-log').locator('code').allTextContents();
    expect(events[0]).toBe('video.created');
    expect(events).toContain('video.in_progress');
    expect(events.at(-1)).toBe('video.completed');
    expect(await page.getByTestId('live-region').textContent()).toContain('The video is ready.');

    // The video plays from its signed link: the element knows its duration.
    expect(await playableDuration(page)).toBeCloseTo(4, 0);
    const videoId = new URL(page.url()).searchParams.get('video')!;
    expect(videoId).toMatch(/^video_/);
    await inPage(page, `document.querySelector('[data-testid=result-video]').play()`);
    await waitInPage(page, `document.querySelector('[data-testid=result-video]').currentTime > 0.2`);
    await inPage(page, `document.querySelector('[data-testid=result-video]').pause()`);

    // Scrubbing: hovering shows frames from the spritesheet grid; keys move and Enter seeks.
    const scrubber = page.getByTestId('scrubber');
    await scrubber.scrollIntoViewIfNeeded();
    const box = (await scrubber.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.62, box.y + box.height / 2);
    await expect.poll(() => scrubber.getAttribute('data-frame')).toBe('12');
    const spriteStyle = (prop: string) => inPage<string>(page, `getComputedStyle(document.querySelector('[data-testid=scrubber] .sprite')).${prop}`);
    expect(await spriteStyle('backgroundPosition')).toBe('50% 66.6667%');
    expect(await spriteStyle('backgroundImage')).toContain('/spritesheet.jpg?expires=');
    await screenshot(page, 'playground-done');
    await page.mouse.move(0, 0);
    await scrubber.focus();
    await page.keyboard.press('End');
    expect(await scrubber.getAttribute('aria-valuenow')).toBe('20');
    expect(await scrubber.getAttribute('aria-valuetext')).toMatch(/^Frame 20 of 20, at 4(\.0)? s$/);
    await page.keyboard.press('Enter');
    await expect.poll(() => videoTime(page)).toBeGreaterThan(3.5);

    // Download: the link is the signed MP4 itself.
    const download = page.getByRole('link', { name: /^Download MP4/ });
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    // Named by the server (Content-Disposition): the same task, in the task_ spelling of signed links.
    expect(file.suggestedFilename()).toBe(`${videoId.replace('video_', 'task_')}.mp4`);
    const saved = path.join(tmp, 'saved.mp4');
    await file.saveAs(saved);
    const mp4 = await readFile(saved);
    expect(mp4.length).toBeGreaterThan(10_000);
    expect(mp4.subarray(4, 8).toString('latin1')).toBe('ftyp');

    // The uploaded reference image became the first frame (blue), as the spritesheet's first cell shows.
    const links = (await (await fetch(`${gw.url}/v1/videos/${videoId}/links`, { headers: { authorization: `Bearer ${gw.key}` } })).json()) as { spritesheet: { url: string } };
    const sheet = Buffer.from(await (await fetch(links.spritesheet.url)).arrayBuffer());
    const stats = await sharp(sheet).extract({ left: 0, top: 0, width: 256, height: 144 }).stats();
    expect(stats.channels[2]!.mean).toBeGreaterThan(stats.channels[0]!.mean + 60);
  });

  it('remixes the finished video from the same page', async () => {
    const firstId = new URL(page.url()).searchParams.get('video')!;
    const remix = page.getByRole('form', { name: 'Remix this video' });
    await expectText(remix.getByTestId('quote'), 'Price: $1.20 — 4 s × $0.30/s');
    await remix.getByLabel('What should change?').fill('The same lighthouse at night');
    await remix.getByRole('button', { name: 'Remix' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('video'), { timeout: 15_000 }).not.toBe(firstId);
    await page.getByTestId('run-panel').and(page.locator('[data-status=completed]')).waitFor({ timeout: 45_000 });
    expect(await playableDuration(page)).toBeGreaterThan(0);
    const remixId = new URL(page.url()).searchParams.get('video')!;
    const v = await gw.openai().videos.retrieve(remixId);
    expect(v.remixed_from_video_id).toBe(firstId);
    expect(v.prompt).toBe('The same lighthouse at night');
  });

  it('shows the gallery with filters, and a failed video with its reason and events', async () => {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Gallery' }).click();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    const tiles = page.getByTestId('gallery').locator('li');
    await expect.poll(() => tiles.count()).toBe(3);
    await expect.poll(() => inPage(page, `[...document.querySelectorAll('[data-testid=gallery] img')].filter((i) => i.naturalWidth > 0).length`)).toBe(2);
    expect(await tiles.first().textContent()).toContain('$1.20');
    await screenshot(page, 'gallery');

    await page.getByLabel('Status').selectOption('failed');
    await expect.poll(() => tiles.count()).toBe(1);
    expect(new URL(page.url()).searchParams.get('status')).toBe('failed');
    expect(await tiles.first().textContent()).toContain('$0.00');
    await page.getByLabel('Model').selectOption('sora-2-pro');
    await page.getByText('No videos match these filters.').waitFor();
    await page.getByLabel('Model').selectOption('');

    await tiles.first().getByRole('link').click();
    await page.getByRole('heading', { name: 'Video' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/console/videos/${failedId}`);
    const reason = page.getByTestId('error-reason');
    await reason.waitFor();
    expect(await reason.textContent()).toContain('video_generation_failed');
    const events = page.getByTestId('event-log').locator('code');
    await expect.poll(() => events.allTextContents()).toContain('video.failed');
    // Focus moved to the page heading for screen readers.
    expect(await inPage(page, 'document.activeElement?.id')).toBe('page-title');
    await screenshot(page, 'video-failed');

    await page.goBack();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    await page.getByLabel('Status').selectOption('completed');
    await expect.poll(() => tiles.count()).toBe(2);
    await tiles.first().getByRole('link').click();
    await page.getByTestId('result-video').waitFor();
    expect(await playableDuration(page)).toBeGreaterThan(0);
    await screenshot(page, 'video-completed');
  });

  it('works on a phone-sized screen', async () => {
    // In dark mode, as the phone's system setting asks.
    const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, colorScheme: 'dark' });
    const p = await phone.newPage();
    const phoneErrors = watchErrors(p);
    try {
      await p.goto(`${gw.url}/console/`);
      await p.getByLabel('API key').fill(gw.key);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Playground' }).waitFor();
      const overflow = () => horizontalOverflow(p);
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(p, 'phone-playground');
      // The navigation hides behind a menu button.
      const menu = p.getByRole('button', { name: 'Menu' });
      expect(await menu.getAttribute('aria-expanded')).toBe('false');
      await menu.click();
      expect(await menu.getAttribute('aria-expanded')).toBe('true');
      await p.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Gallery', exact: true }).click();
      await p.getByTestId('gallery').waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(p, 'phone-gallery');
      await p.getByTestId('gallery').locator('li').first().getByRole('link').click();
      await p.getByTestId('result-video').waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await screenshot(p, 'phone-video');
      expect(phoneErrors).toEqual([]);
    } finally {
      await phone.close();
    }
  });

  it('tells a user whose key was revoked to sign in again', async () => {
    const other = await gw.newKey('short-lived');
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    const p = await ctx.newPage();
    try {
      await p.goto(`${gw.url}/console/gallery`);
      await p.getByLabel('API key').fill(other.secret);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByText('No videos yet.').waitFor();
      await fetch(`${gw.url}/admin/v1/keys/${other.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
      await p.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Playground', exact: true }).click();
      const banner = p.getByRole('alert').filter({ hasText: 'no longer accepts your API key' });
      await banner.waitFor();
      await banner.getByRole('button', { name: 'Sign in again' }).click();
      await p.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      expect(await storedSession(p)).toEqual([false, false]);
    } finally {
      await ctx.close();
    }
  });

  it('signs out and forgets the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    expect(await page.getByRole('status').first().textContent()).toContain('You are signed out');
    expect(await storedSession(page)).toEqual([false, false]);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
    expect(errors).toEqual([]);
  });
});

async function expectText(locator: ReturnType<Page['getByTestId']>, text: string): Promise<void> {
  await expect.poll(() => locator.textContent(), { timeout: 10_000 }).toContain(text);
}
