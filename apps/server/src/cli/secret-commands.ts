import { addRemoveCommand, clientOf, json, program, say, sayList } from './cli-program.ts';

/**
 * `cairn secret set|list|rm`: secrets of a running server; values come from standard input, never
 * argv.
 */
export function addSecretCommands(): void {
  const secret = program.command('secret').description('secrets of a running server (values are write-only)');
  secret
    .command('set')
    .argument('<name>', 'an environment variable name (what the task receives)')
    .option('--server <url>', 'the server')
    .description('set a secret; the value is read from standard input, never from the command line')
    .action(async (name: string, options: { server?: string }) => {
      if (process.stdin.isTTY) process.stderr.write(`value of ${name} (then Enter and Ctrl-D): `);
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const value = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      const set = await clientOf(options.server).setSecret(name, value);
      say(json() ? JSON.stringify(set) : `secret ${set.name} set (version ${set.version})`);
    });
  secret
    .command('list')
    .description('secret names, versions and who set them (never values)')
    .option('--server <url>', 'the server')
    .action(async (options: { server?: string }) => {
      const secrets = await clientOf(options.server).secrets();
      sayList(secrets, (item) => `${item.name.padEnd(24)} version ${item.version}  set ${item.updatedAt} by ${item.updatedBy}`);
    });
  addRemoveCommand(secret, 'secret', ['<name>', 'the secret name'], 'remove a secret (runs that name it fail at dispatch)', (cairn, id) =>
    cairn.removeSecret(id),
  );
}
