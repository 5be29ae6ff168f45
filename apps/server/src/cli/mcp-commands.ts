import { InvalidArgumentError } from 'commander';
import { clientOf, program } from './cli-program.ts';

/** `cairn mcp`: an MCP server on stdio for an AI client, over a running server. */
export function addMcpCommands(): void {
  program
    .command('mcp')
    .option('--server <url>', "the server (default: this config's server.host:server.port)")
    .option(
      '--workspace-root <dir>',
      'the folder whose subfolders submit_run may snapshot as a workspace; nothing outside it is read (default: the current folder, unless that is /: then none)',
    )
    .option(
      '--max-wait <seconds>',
      'the longest one wait_for_run call waits before it answers done: false (under the 60 s request timeout of MCP clients)',
      waitSeconds,
      45,
    )
    .description('an MCP server on stdio for an AI client: submit runs, follow them, read patches (use a token with only runs:submit and runs:read)')
    .action(async (options: { server?: string; workspaceRoot?: string; maxWait: number }) => {
      const { buildMcpServer } = await import('@cairn/mcp');
      const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
      const server = buildMcpServer(await clientOf(options.server), {
        maxWaitSeconds: options.maxWait,
        ...(options.workspaceRoot !== undefined ? { workspaceRoot: options.workspaceRoot } : {}),
      });
      // stdout is the protocol's: anything this command says goes to stderr.
      await server.connect(new StdioServerTransport());
      process.stderr.write('cairn mcp: serving on stdio\n');
    });
}

function waitSeconds(value: string): number {
  const seconds = Number(value);
  if (!(seconds > 0 && seconds <= 3_600)) throw new InvalidArgumentError('must be a number of seconds, more than 0 and at most 3600 (45 by default).');
  return seconds;
}
