/** Not a key: the forwarder replaces it with the attempt's credential. */
const placeholderKey = 'cairn-gateway';

/**
 * What a runtime is told of the model gateway: base URLs the agent CLIs read (Claude Code's
 * ANTHROPIC_BASE_URL, the OpenAI SDKs' and Codex's OPENAI_BASE_URL) pointing at the attempt's
 * forwarder, and placeholder keys, since the CLIs refuse to start without one. The real credential
 * is added by the forwarder outside the sandbox; no provider key is ever here.
 */
export function gatewayEnvironment(forwarderUrl: string): Record<string, string> {
  return {
    CAIRN_GATEWAY_URL: forwarderUrl,
    ANTHROPIC_BASE_URL: `${forwarderUrl}/anthropic`,
    ANTHROPIC_API_KEY: placeholderKey,
    OPENAI_BASE_URL: `${forwarderUrl}/openai/v1`,
    OPENAI_API_KEY: placeholderKey,
  };
}
