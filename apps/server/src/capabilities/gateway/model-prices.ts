import { calcPrice } from '@pydantic/genai-prices';
import { z } from 'zod';
import type { ModelUsage } from './model-usage.ts';

const perMillionTokens = z.number({ error: 'must be a price in USD per million tokens, e.g. 3' }).nonnegative('must not be negative');

/**
 * Prices set in configuration, by model name exactly as the provider reports it in its
 * response (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`), in USD per million tokens.
 * They win over the maintained table: for a negotiated rate, a model the table does not know
 * yet, or a self-hosted model behind an OpenAI-compatible API. A cache rate left out is the
 * input rate: cache tokens are input tokens, and a provider without separate cache pricing
 * bills them as such.
 */
export const modelPriceOverridesSchema = z.record(
  z.string().min(1, 'must name a model'),
  z.strictObject({
    inputPerMTok: perMillionTokens,
    outputPerMTok: perMillionTokens,
    cacheReadPerMTok: perMillionTokens.optional(),
    cacheWritePerMTok: perMillionTokens.optional(),
  }),
);

/** Per-model prices from configuration; see {@link modelPriceOverridesSchema}. */
export type ModelPriceOverrides = z.infer<typeof modelPriceOverridesSchema>;

/**
 * The version of `@pydantic/genai-prices` whose bundled table prices calls, recorded with
 * each price so a cost can be traced to the table that produced it. A test keeps it equal to
 * the installed package.
 */
export const GENAI_PRICES_VERSION = '0.1.8';

/** One model call to price. */
export interface ModelCallToPrice {
  provider: 'anthropic' | 'openai';
  /** The model as the provider reported it in its response. */
  model: string;
  usage: ModelUsage;
  overrides?: ModelPriceOverrides | undefined;
  /** When the call was made, for prices that changed over time; now when left out. */
  at?: Date | undefined;
}

/**
 * A call's cost in USD, rounded to a billionth of a dollar so that equal usages always cost
 * exactly the same however the floating-point sum was ordered, or `costUsd: null` with the
 * reason when no price is known. An unknown price is never 0 and never a guess.
 */
export type ModelCallPrice = { costUsd: number; source: 'override' | 'genai-prices'; priceVersion?: string } | { costUsd: null; reason: string };

/**
 * Prices a model call: from the configured override for its model if there is one, otherwise
 * from the table bundled with `@pydantic/genai-prices`.
 *
 * The table is the one in the installed package, read from memory: this module never calls
 * the library's `updatePrices`, so pricing makes no network request and a price changes only
 * when the pinned dependency is upgraded (recorded in `priceVersion`).
 */
export function priceModelCall(call: ModelCallToPrice): ModelCallPrice {
  const { usage } = call;
  const override = call.overrides !== undefined && Object.hasOwn(call.overrides, call.model) ? call.overrides[call.model] : undefined;
  if (override !== undefined) {
    const cost =
      usage.inputTokens * override.inputPerMTok +
      usage.outputTokens * override.outputPerMTok +
      usage.cacheReadTokens * (override.cacheReadPerMTok ?? override.inputPerMTok) +
      usage.cacheWriteTokens * (override.cacheWritePerMTok ?? override.inputPerMTok);
    return { costUsd: roundToNanoDollars(cost / 1_000_000), source: 'override' };
  }

  let calculation: ReturnType<typeof calcPrice>;
  try {
    // genai-prices counts `input_tokens` as all input, cache reads and writes included, and
    // prices the uncached remainder at the input rate; Cairn's inputTokens is that remainder.
    // Passing the total also lets it apply long-context tiers, which depend on the whole prompt.
    calculation = calcPrice(
      {
        input_tokens: usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens,
        cache_read_tokens: usage.cacheReadTokens,
        cache_write_tokens: usage.cacheWriteTokens,
        output_tokens: usage.outputTokens,
      },
      call.model,
      { providerId: call.provider, timestamp: call.at ?? new Date() },
    );
  } catch (error) {
    return {
      costUsd: null,
      reason: `genai-prices ${GENAI_PRICES_VERSION} could not price ${call.provider} model "${call.model}": ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (calculation === null) {
    return {
      costUsd: null,
      reason: `no price for ${call.provider} model "${call.model}" in genai-prices ${GENAI_PRICES_VERSION} and no override configured for it`,
    };
  }
  if (!Number.isFinite(calculation.total_price) || calculation.total_price < 0) {
    return { costUsd: null, reason: `genai-prices ${GENAI_PRICES_VERSION} gave ${calculation.total_price} for ${call.provider} model "${call.model}"` };
  }
  const priceVersion =
    calculation.auto_update_timestamp === undefined
      ? `genai-prices@${GENAI_PRICES_VERSION}`
      : `genai-prices@${GENAI_PRICES_VERSION}+data@${calculation.auto_update_timestamp}`;
  return { costUsd: roundToNanoDollars(calculation.total_price), source: 'genai-prices', priceVersion };
}

function roundToNanoDollars(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}
