import { isAbsolute } from 'node:path';
import { z } from 'zod';

/** Hosts where plain `http://` is accepted: a token sent in clear never leaves the machine. */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Who delivered commits are authored and committed by: one line each, no angle brackets (git's ident format). */
export const commitAuthorSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .regex(/^[^<>\r\n]+$/, 'must not contain <, > or a line break'),
    email: z.string().regex(/^[^<>\s]+@[^<>\s]+$/, 'must be an e-mail address'),
  })
  .default({ name: 'Cairn', email: 'cairn@cairn.invalid' });

/** Settings of `createGitForge`, checked at construction; errors name `git-forge.<option>`. */
export const gitForgeSettingsSchema = z
  .strictObject({
    /**
     * Where branches are pushed: an `https://` URL of a git repository, `http://` on loopback only,
     * or an absolute path to a repository on this machine. Never credentials in the URL: `token`.
     */
    remote: z.string().superRefine((remote, context) => {
      const problem = remoteProblem(remote);
      if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    }),
    /** The user name sent with `token` (HTTP basic auth); GitHub and Gitea accept any, GitLab wants `oauth2`. */
    username: z
      .string()
      .min(1)
      .regex(/^[^\s:]+$/, 'must not contain spaces or a colon')
      .default('x-access-token'),
    /**
     * The token (a secret's value, never written anywhere): sent as the basic-auth password, and
     * only to the remote's own scheme, host and port.
     */
    token: z
      .string()
      .min(1)
      .regex(/^[^\r\n]+$/, 'must be one line')
      .optional(),
    /** Who the delivered commits are authored and committed by. */
    author: commitAuthorSchema,
    /** A transfer slower than 1 KiB/s for this long is abandoned (CAIRN_FORGE_UNAVAILABLE). */
    stallSeconds: z.int().min(1).max(3600).default(60),
  })
  .superRefine((settings, context) => {
    if (settings.token !== undefined && !/^https?:\/\//.test(settings.remote)) {
      context.addIssue({ code: 'custom', path: ['token'], message: 'is sent only to an http(s) remote; a local path needs none' });
    }
  });

export type GitForgeSettings = z.input<typeof gitForgeSettingsSchema>;

function remoteProblem(remote: string): string | undefined {
  if (isAbsolute(remote)) return undefined;
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    return 'must be an https:// URL of a git repository or an absolute path';
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials; give the token as `token`';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:')
    return loopbackHosts.has(url.hostname) ? undefined : 'must be https:// (plain http:// only on loopback: the token would travel in clear)';
  return `must be an https:// URL or an absolute path, not ${url.protocol}`;
}
