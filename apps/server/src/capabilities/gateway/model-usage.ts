/**
 * The tokens one model call consumed, in one convention whatever the provider's API.
 *
 * Providers count input differently: Anthropic's `input_tokens` already leaves out the tokens
 * read from and written to the prompt cache, while OpenAI's `prompt_tokens` (Chat Completions)
 * and `input_tokens` (Responses) include the cached ones. Each bucket is priced at its own
 * rate, so the gateway keeps them disjoint: the four counts never overlap, and their sum is
 * every input and output token of the call. Converting at the edge (see
 * `model-usage-readers.ts`) means pricing and reporting never need to know which API a call
 * went through.
 */
export interface ModelUsage {
  /**
   * Input tokens that were neither read from nor written to the prompt cache, billed at the
   * model's plain input rate. Anthropic: `input_tokens` as reported. OpenAI Chat Completions:
   * `prompt_tokens - prompt_tokens_details.cached_tokens`. OpenAI Responses:
   * `input_tokens - input_tokens_details.cached_tokens`.
   */
  inputTokens: number;
  /**
   * Generated tokens, including reasoning ("thinking") tokens the provider bills as output
   * even where they are not returned: Anthropic `output_tokens`, OpenAI `completion_tokens` /
   * `output_tokens`.
   */
  outputTokens: number;
  /**
   * Input tokens served from the prompt cache: Anthropic `cache_read_input_tokens`, OpenAI
   * `cached_tokens`. Zero when the provider reported no cache field.
   */
  cacheReadTokens: number;
  /**
   * Input tokens written to the prompt cache: Anthropic `cache_creation_input_tokens` (five-minute
   * and one-hour writes together). OpenAI caches implicitly and reports no writes, so always zero
   * there.
   */
  cacheWriteTokens: number;
}
