export { buildMcpServer, mcpToolNames } from './cairn-mcp-server.ts';
export const VERSION = '0.1.0';
