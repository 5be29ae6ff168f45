import { clientOf, program } from './cli-program.ts';

/** `cairn mcp`: an MCP server on stdio for an AI client, over a running server. */
export function addMcpCommands(): void {
  program
    .command('mcp')
    .option('--server <url>', 'the server (default: this config\'s server.host:server.port)')
    .description('an MCP server on stdio for an AI client: submit runs, follow them, read patches (use a token with only runs:submit and runs:read)')
    .action(async (options: { server?: string }) => {
      const { buildMcpServer } = await import('@cairn/mcp');
      const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
      // stdout is the protocol's: anything this command says goes to stderr.
      await buildMcpServer(clientOf(options.server)).connect(new StdioServerTransport());
      process.stderr.write('cairn mcp: serving on stdio\n');
    });
}
