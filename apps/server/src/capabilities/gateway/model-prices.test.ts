import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { calcPrice, findProvider, type ModelPrice } from '@pydantic/genai-prices';
import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { ModelUsage } from './model-usage.ts';
import { GENAI_PRICES_VERSION, modelPriceOverridesSchema, priceModelCall } from './model-prices.ts';

/** The library's own table entry for a model: the oracle, rather than rates typed in here. */
function tablePrices(provider: string, modelId: string, at?: Date): ModelPrice {
  const model = findProvider({ providerId: provider })?.models.find((candidate) => candidate.id === modelId);
  if (model === undefined) throw new Error(`genai-prices has no ${provider} model ${modelId}`);
  if (!Array.isArray(model.prices)) return model.prices;
  // Date-constrained prices: the last entry whose start date has passed.
  let chosen = model.prices[0]!.prices;
  for (const entry of model.prices) {
    const constraint = entry.constraint;
    if (constraint === undefined) chosen = entry.prices;
    else if (constraint.type === 'start_date' && at !== undefined && at >= new Date(`${constraint.start_date}T00:00:00Z`)) chosen = entry.prices;
  }
  return chosen;
}

/** The base (below any long-context tier) rate per million tokens of one price key. */
function baseRate(prices: ModelPrice, key: string): number {
  const price = prices[key];
  if (typeof price === 'number') return price;
  if (price !== undefined) return price.base;
  throw new Error(`no ${key} in the table entry`);
}

function expectedFromTable(prices: ModelPrice, usage: ModelUsage): number {
  const rate = (tokens: number, key: string): number => (tokens === 0 ? 0 : tokens * baseRate(prices, key));
  return (
    (rate(usage.inputTokens, 'input_mtok') +
      rate(usage.cacheReadTokens, 'cache_read_mtok') +
      rate(usage.cacheWriteTokens, 'cache_write_mtok') +
      rate(usage.outputTokens, 'output_mtok')) /
    1_000_000
  );
}

const anthropicUsage: ModelUsage = { inputTokens: 472, outputTokens: 315, cacheReadTokens: 2048, cacheWriteTokens: 1024 };
const openAIUsage: ModelUsage = { inputTokens: 93, outputTokens: 46, cacheReadTokens: 1024, cacheWriteTokens: 0 };

afterEach(() => {
  vi.restoreAllMocks();
});

describe('priceModelCall from genai-prices', () => {
  test('prices a known Anthropic model, with each cache bucket at its own rate from the table', () => {
    const price = priceModelCall({ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', usage: anthropicUsage });
    const prices = tablePrices('anthropic', 'claude-sonnet-4-5');
    expect(price).toEqual({ costUsd: expect.any(Number), source: 'genai-prices', priceVersion: `genai-prices@${GENAI_PRICES_VERSION}` });
    expect(price.costUsd).toBeCloseTo(expectedFromTable(prices, anthropicUsage), 9);
    // The three input rates really differ, so a bucket priced at another's rate would show.
    expect(new Set([baseRate(prices, 'input_mtok'), baseRate(prices, 'cache_read_mtok'), baseRate(prices, 'cache_write_mtok')]).size).toBe(3);
  });

  test('prices a known OpenAI model (a dated snapshot name) with cached tokens at the cache-read rate', () => {
    const price = priceModelCall({ provider: 'openai', model: 'gpt-4o-2024-08-06', usage: openAIUsage });
    const prices = tablePrices('openai', 'gpt-4o');
    expect(price).toMatchObject({ source: 'genai-prices' });
    expect(price.costUsd).toBeCloseTo(expectedFromTable(prices, openAIUsage), 9);
  });

  test("agrees with the library's own calculation given the library's total-input convention", () => {
    const price = priceModelCall({ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', usage: anthropicUsage });
    const library = calcPrice(
      { input_tokens: 472 + 2048 + 1024, cache_read_tokens: 2048, cache_write_tokens: 1024, output_tokens: 315 },
      'claude-sonnet-4-5-20250929',
      { providerId: 'anthropic' },
    );
    expect(library).not.toBeNull();
    expect(price.costUsd).toBe(Math.round(library!.total_price * 1e9) / 1e9);
  });

  test('a cached token costs what the table says less than an uncached one', () => {
    const cached = priceModelCall({
      provider: 'openai',
      model: 'gpt-4o',
      usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 1_000_000, cacheWriteTokens: 0 },
    });
    const uncached = priceModelCall({
      provider: 'openai',
      model: 'gpt-4o',
      usage: { inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
    });
    const prices = tablePrices('openai', 'gpt-4o');
    expect(cached.costUsd).toBe(baseRate(prices, 'cache_read_mtok'));
    expect(uncached.costUsd).toBe(baseRate(prices, 'input_mtok'));
  });

  test('uses the price in force at the time of the call', () => {
    const usage: ModelUsage = { inputTokens: 1000, outputTokens: 1000, cacheReadTokens: 0, cacheWriteTokens: 0 };
    const before = new Date('2025-05-01T00:00:00Z');
    const after = new Date('2025-07-01T00:00:00Z');
    const early = priceModelCall({ provider: 'openai', model: 'o3', usage, at: before });
    const late = priceModelCall({ provider: 'openai', model: 'o3', usage, at: after });
    expect(early.costUsd).toBeCloseTo(expectedFromTable(tablePrices('openai', 'o3', before), usage), 9);
    expect(late.costUsd).toBeCloseTo(expectedFromTable(tablePrices('openai', 'o3', after), usage), 9);
    expect(early.costUsd).not.toBe(late.costUsd);
  });

  test('an unknown model has no price and says why: never 0, never a guess', () => {
    const price = priceModelCall({ provider: 'anthropic', model: 'claude-imaginary-9', usage: anthropicUsage });
    expect(price.costUsd).toBeNull();
    expect(price).toEqual({ costUsd: null, reason: expect.stringContaining('"claude-imaginary-9"') });
    // A model of the other provider is not priced by name similarity either.
    expect(priceModelCall({ provider: 'anthropic', model: 'gpt-4o', usage: openAIUsage }).costUsd).toBeNull();
  });

  test('usage the library rejects is no price, with its reason, rather than a throw', () => {
    const price = priceModelCall({ provider: 'openai', model: 'gpt-4o', usage: { inputTokens: -5, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 } });
    expect(price).toEqual({ costUsd: null, reason: expect.stringContaining('could not price') });
  });

  test('reads the bundled table and never goes to the network', () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const price = priceModelCall({ provider: 'openai', model: 'gpt-4o', usage: openAIUsage });
    expect(fetchSpy).not.toHaveBeenCalled();
    // An auto-updated table would add its timestamp to the version.
    expect(price).toMatchObject({ priceVersion: `genai-prices@${GENAI_PRICES_VERSION}` });
  });

  test('GENAI_PRICES_VERSION is the installed package version', () => {
    const entry = createRequire(import.meta.url).resolve('@pydantic/genai-prices');
    const manifest = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { name: string; version: string };
    expect(manifest.name).toBe('@pydantic/genai-prices');
    expect(manifest.version).toBe(GENAI_PRICES_VERSION);
  });
});

describe('priceModelCall from overrides', () => {
  const overrides = modelPriceOverridesSchema.parse({
    'claude-sonnet-4-5-20250929': { inputPerMTok: 2, outputPerMTok: 10, cacheReadPerMTok: 0.2, cacheWritePerMTok: 2.5 },
    'local-llama': { inputPerMTok: 0.5, outputPerMTok: 1 },
  });

  test('an override wins over the table', () => {
    const price = priceModelCall({ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', usage: anthropicUsage, overrides });
    expect(price).toEqual({ costUsd: 0.0070636, source: 'override' }); // (472×2 + 315×10 + 2048×0.2 + 1024×2.5) / 1e6
  });

  test('prices a model the table does not know; cache rates left out are the input rate', () => {
    const price = priceModelCall({
      provider: 'openai',
      model: 'local-llama',
      usage: { inputTokens: 100, outputTokens: 50, cacheReadTokens: 40, cacheWriteTokens: 10 },
      overrides,
    });
    expect(price).toEqual({ costUsd: 0.000125, source: 'override' }); // (150×0.5 + 50×1) / 1e6
  });

  test('matches the model name exactly: another snapshot falls back to the table', () => {
    const price = priceModelCall({ provider: 'anthropic', model: 'claude-sonnet-4-5', usage: anthropicUsage, overrides });
    expect(price).toMatchObject({ source: 'genai-prices' });
    expect(priceModelCall({ provider: 'openai', model: 'toString', usage: openAIUsage, overrides }).costUsd).toBeNull();
  });

  test('property: costs lie on the billionth-of-a-dollar grid, so equal usage is equal cost however it is summed', () => {
    // Input below the long-context tiers (200k prompt tokens), whose rate depends on the whole
    // prompt and so does not split.
    const inputCount = fc.integer({ min: 0, max: 60_000 });
    const outputCount = fc.integer({ min: 0, max: 5_000_000 });
    fc.assert(
      fc.property(
        inputCount,
        outputCount,
        inputCount,
        inputCount,
        fc.constantFrom('gpt-4o', 'claude-sonnet-4-5-20250929', 'local-llama'),
        (input, output, read, write, model) => {
          const usage: ModelUsage = { inputTokens: input, outputTokens: output, cacheReadTokens: read, cacheWriteTokens: model === 'gpt-4o' ? 0 : write };
          const provider = model === 'gpt-4o' ? 'openai' : 'anthropic';
          const price = priceModelCall({
            provider,
            model,
            usage,
            overrides: { 'local-llama': { inputPerMTok: 0.1, outputPerMTok: 0.3, cacheReadPerMTok: 0.7 } },
          });
          expect(price.costUsd).not.toBeNull();
          const cost = price.costUsd!;
          expect(Math.round(cost * 1e9) / 1e9).toBe(cost);
          // The same tokens split into two halves and priced separately add up within the grid.
          const half: ModelUsage = { ...usage, outputTokens: Math.floor(output / 2) };
          const rest: ModelUsage = { inputTokens: 0, outputTokens: output - half.outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 };
          const split =
            priceModelCall({ provider, model, usage: half, overrides: { 'local-llama': { inputPerMTok: 0.1, outputPerMTok: 0.3, cacheReadPerMTok: 0.7 } } })
              .costUsd! +
            priceModelCall({ provider, model, usage: rest, overrides: { 'local-llama': { inputPerMTok: 0.1, outputPerMTok: 0.3, cacheReadPerMTok: 0.7 } } })
              .costUsd!;
          expect(Math.abs(split - cost)).toBeLessThanOrEqual(2e-9);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('modelPriceOverridesSchema', () => {
  test('accepts prices per million tokens, cache rates optional', () => {
    expect(modelPriceOverridesSchema.parse({ m: { inputPerMTok: 1, outputPerMTok: 2 } })).toEqual({ m: { inputPerMTok: 1, outputPerMTok: 2 } });
  });

  test.each([
    ['a negative price', { m: { inputPerMTok: -1, outputPerMTok: 2 } }],
    ['a missing output price', { m: { inputPerMTok: 1 } }],
    ['a price given as text', { m: { inputPerMTok: '1', outputPerMTok: 2 } }],
    ['an unknown field (a typo would silently fall back to the input rate)', { m: { inputPerMTok: 1, outputPerMTok: 2, cachedReadPerMTok: 0.1 } }],
    ['an empty model name', { '': { inputPerMTok: 1, outputPerMTok: 2 } }],
  ])('rejects %s', (_name, value) => {
    expect(modelPriceOverridesSchema.safeParse(value).success).toBe(false);
  });
});
