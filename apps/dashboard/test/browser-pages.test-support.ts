import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

/** Debian's Chromium (scripts/setup.sh --for-tests installs it): the /usr/bin/chromium wrapper script fails here, the binary does not. */
export const chromiumPath = '/usr/lib/chromium/chromium';
/** Screenshots of every test, kept as CI artefacts (ignored by git). */
export const artefactsDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
/** docs/images: the screenshots the docs show, written only with CAIRN_WRITE_DOCS=1. */
export const docsImagesDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'images');

/**
 * Call at the top of a test file: one headless Chromium for the file (with `launchArgs` added to
 * its command line); `open(url)` gives a page in
 * a fresh context (its own sessionStorage, downloads accepted) whose console errors, uncaught
 * exceptions and Content Security Policy violations fail the test (`cspViolations(page)` lists
 * the latter), and `screenshot(page, name)` saves an artefact. Everything closes after the test.
 */
export function browserPages({ launchArgs = [] }: { readonly launchArgs?: readonly string[] } = {}) {
  let browser: Browser | undefined;
  const contexts: { context: BrowserContext; problems: string[]; allowed: RegExp[] }[] = [];
  const violationsByPage = new WeakMap<Page, string[]>();
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        ...launchArgs,
      ],
    });
  });
  afterEach(async () => {
    const opened = contexts.splice(0);
    for (const { context } of opened) await context.close();
    const problems = opened.flatMap(({ problems, allowed }) => problems.filter((problem) => !allowed.some((pattern) => pattern.test(problem))));
    expect(problems, 'the page logged errors to its console or broke its Content Security Policy').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
  });

  /**
   * A new page at `url`. `allowConsoleErrors` lists the console errors a test provokes on purpose
   * (a refused token answers 401, which Chromium logs); any other error fails the test.
   */
  const open = async (
    url: string,
    options: { readonly allowConsoleErrors?: readonly RegExp[]; readonly viewport?: { width: number; height: number } } = {},
  ): Promise<Page> => {
    const context = await browser!.newContext({ acceptDownloads: true, viewport: options.viewport ?? { width: 1280, height: 800 } });
    const entry = { context, problems: [] as string[], allowed: [...(options.allowConsoleErrors ?? [])] };
    contexts.push(entry);
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') entry.problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => entry.problems.push(`uncaught: ${error.message}`));
    // Chromium logs nothing to the console for a refused `eval` or `new Function` that the page
    // caught: only the document's securitypolicyviolation event says, so each page reports those.
    const violations: string[] = [];
    violationsByPage.set(page, violations);
    await page.exposeFunction(reportViolation, (violation: string) => {
      violations.push(violation);
      entry.problems.push(`csp: ${violation}`);
    });
    await page.addInitScript(listenForViolations, reportViolation);
    await page.goto(url);
    return page;
  };

  /**
   * The CSP violations `page` reported so far, each as `<directive> <blocked> at <file>:<line>`.
   * Reports cross from the page asynchronously: the round trip first lets every one sent before
   * it arrive.
   */
  const cspViolations = async (page: Page): Promise<readonly string[]> => {
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
    return [...(violationsByPage.get(page) ?? [])];
  };

  const screenshot = async (page: Page, name: string, options: { readonly docs?: string } = {}): Promise<void> => {
    mkdirSync(artefactsDirectory, { recursive: true });
    await page.screenshot({ path: join(artefactsDirectory, `${name}.png`), fullPage: true });
    if (options.docs !== undefined && process.env['CAIRN_WRITE_DOCS'] === '1') {
      mkdirSync(docsImagesDirectory, { recursive: true });
      await page.screenshot({ path: join(docsImagesDirectory, options.docs) });
    }
  };

  /** A page at the dashboard of `base`, signed in with `token`, showing the runs. */
  const signedIn = async (
    base: string,
    token: string,
    hash = '',
    beforeSignIn: (page: Page) => void = () => {},
    options: { readonly allowConsoleErrors?: readonly RegExp[] } = {},
  ): Promise<Page> => {
    const page = await open(`${base}/dashboard/`, options);
    beforeSignIn(page);
    await page.getByLabel('Bearer token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
    if (hash !== '') await page.evaluate((target) => (location.hash = target), hash);
    return page;
  };

  return { open, signedIn, screenshot, cspViolations };
}

/** The page function that hands each CSP violation to the test. */
const reportViolation = 'cairnReportCspViolation';

/** Runs in every document a page loads, before its own scripts. */
function listenForViolations(binding: string): void {
  document.addEventListener('securitypolicyviolation', (event) => {
    const report = (window as unknown as Record<string, (violation: string) => void>)[binding]!;
    report(`${event.effectiveDirective} ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`);
  });
}
