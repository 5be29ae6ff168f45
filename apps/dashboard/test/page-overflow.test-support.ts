import type { Page } from 'playwright-core';

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
