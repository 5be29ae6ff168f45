export { buildMcpServer, mcpResourceUris, mcpToolNames } from './cairn-mcp-server.ts';
export type { McpServerOptions } from './cairn-mcp-server.ts';
export { runSpecExample } from './run-spec-example.ts';
export const VERSION = '0.1.0';
