import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

/**
 * Headless Chromium for the console's browser tests: Debian's `chromium` package
 * (/usr/bin/chromium) or CHROMIUM_PATH. Without one the tests skip and say so, unless
 * VIDGATE_REQUIRE_BROWSER=1 (CI), where a missing browser fails them instead.
 */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export const chromiumPath: string | undefined = process.env.CHROMIUM_PATH || CANDIDATES.find((p) => existsSync(p));

export const browserRequired = process.env.VIDGATE_REQUIRE_BROWSER === '1';

/** Whether to skip a browser test file (logs why once). */
export function skipWithoutBrowser(file: string): boolean {
  if (chromiumPath) return false;
  if (browserRequired) throw new Error(`${file}: no Chromium found (install Debian's chromium or set CHROMIUM_PATH); VIDGATE_REQUIRE_BROWSER=1 forbids skipping.`);
  console.warn(`SKIPPED ${file}: no Chromium installed (apt-get install chromium, or set CHROMIUM_PATH) — the console browser tests did not run.`);
  return true;
}

/** Without the background-networking flags Chromium keeps trying to reach Google on a closed network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--mute-audio',
];

export async function launchBrowser(): Promise<Browser> {
  if (!chromiumPath) throw new Error('no Chromium');
  return chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, timeout: 60_000 });
}

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/console');

/** Save a full-page screenshot as a test artifact: test-artifacts/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.evaluate('window.scrollTo(0, 0)'); // a sticky header would otherwise be drawn mid-page
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Collect page errors and failed console messages, so a broken page fails its test with the reason. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Expected 4xx answers the page handles (e.g. a wrong key on sign-in) are logged by Chromium as resource errors.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/**
 * Browser-side code is passed as strings: the tests compile without the DOM's types (they would
 * clash with Node's), and page functions run in the browser anyway.
 */
export const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

/**
 * Poll an expression until it is truthy; its value. (Not page.waitForFunction: with a string it
 * evals inside the page, which the console's Content-Security-Policy rightly refuses.)
 */
export async function waitInPage<T>(page: Page, expression: string, timeout = 30_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await inPage<T>(page, expression);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`page: '${expression}' still falsy after ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const VIDEO = `document.querySelector('[data-testid=result-video]')`;

/** Wait until the page's result <video> has loaded its metadata; its duration in seconds. */
export const playableDuration = (page: Page): Promise<number> =>
  waitInPage<number>(page, `(${VIDEO}?.readyState ?? 0) >= 1 && ${VIDEO}.duration > 0 && ${VIDEO}.duration`);

export const videoTime = (page: Page): Promise<number> => inPage<number>(page, `${VIDEO}.currentTime`);

/** [in sessionStorage, in localStorage] for the console's session. */
export const storedSession = (page: Page): Promise<[boolean, boolean]> =>
  inPage(page, `[!!sessionStorage.getItem('vidgate.console.session'), !!localStorage.getItem('vidgate.console.session')]`);

/** How far the page is wider than the screen (0 when it fits). */
export const horizontalOverflow = (page: Page): Promise<number> => inPage(page, 'document.documentElement.scrollWidth - window.innerWidth');
