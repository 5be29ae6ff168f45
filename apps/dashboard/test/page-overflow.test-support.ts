import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * How far the page reaches past the window's right edge (px; 0 or less: it does not scroll
 * sideways), with the first few elements that stick out, for the failure message.
 */
export async function sidewaysOverflow(page: Page): Promise<{ readonly overflow: number; readonly wide: readonly string[] }> {
  return page.evaluate(() => ({
    overflow: document.documentElement.scrollWidth - innerWidth,
    wide: Array.from(document.querySelectorAll('body *'))
      .filter((element) => element.getBoundingClientRect().right > innerWidth + 1)
      .slice(0, 3)
      .map((element) => `${element.tagName}.${element.getAttribute('class') ?? ''}: ${element.textContent?.slice(0, 40) ?? ''}`),
  }));
}

/**
 * Fails unless the page stops reaching past the window's right edge: polled, because a resized
 * window is laid out again only after the ResizeObserver callbacks the page's layout depends on
 * (graph and panel side by side, or stacked) have run.
 */
export async function expectNoSidewaysScroll(page: Page): Promise<void> {
  await expect.poll(async () => (await sidewaysOverflow(page)).overflow, { timeout: 5_000 }).toBeLessThanOrEqual(0);
  const { overflow, wide } = await sidewaysOverflow(page);
  expect(overflow, wide.join(', ')).toBeLessThanOrEqual(0);
}
