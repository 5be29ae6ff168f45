import { createCairnClient, type CairnClient } from '@cairn/client';
import { Command } from 'commander';
import { loadServerConfig } from '../config/load-server-config.ts';

/**
 * The `cairn` program and what every command shares: `--json`, `--config`, printing, and a client
 * of the running server. Commands live in files of their own (`<topic>-commands.ts`), each an
 * `add<Topic>Commands()` that `cli.ts` calls.
 */
export const program = new Command('cairn').description('Run AI-agent work unattended, and prove what ran.').option('--json', 'print one JSON document instead of text').option('--config <file>', 'the server config (default: cairn.config.* here)');

/** Whether the command prints one JSON document (for scripts) instead of text. */
export const json = (): boolean => program.opts<{ json?: boolean }>().json === true;

export const say = (text: string): void => void process.stdout.write(`${text}\n`);

/** A client of `url`, or of the server this directory's config describes, with CAIRN_TOKEN. */
export function clientOf(url: string | undefined): CairnClient {
  let baseUrl = url;
  if (baseUrl === undefined) {
    const { host, port } = loadServerConfig(configOption()).config.server;
    baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const token = process.env['CAIRN_TOKEN'];
  return createCairnClient({ baseUrl, ...(token ? { token } : {}) });
}

/** The `--config` file, when one was named. */
export function configOption(): { file?: string } {
  const file = program.opts<{ config?: string }>().config;
  return file === undefined ? {} : { file };
}
