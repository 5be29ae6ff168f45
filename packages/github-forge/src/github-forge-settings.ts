import { commitAuthorSchema } from '@cairn/git-forge';
import { z } from 'zod';

/** Hosts where plain `http://` is accepted: a token sent in clear never leaves the machine. */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** An `https://` base URL (plain `http://` on loopback only), with no credentials, query or fragment. */
const baseUrl = z.string().superRefine((value, context) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    context.addIssue({ code: 'custom', message: 'must be an https:// URL' });
    return;
  }
  const problem =
    url.username !== '' || url.password !== ''
      ? 'must not carry credentials; give them as `token` or `app`'
      : url.search !== '' || url.hash !== ''
        ? 'must not have a query or a fragment'
        : url.protocol === 'https:'
          ? undefined
          : url.protocol === 'http:' && loopbackHosts.has(url.hostname)
            ? undefined
            : 'must be https:// (plain http:// only on loopback: the token would travel in clear)';
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

const oneLine = z
  .string()
  .min(1)
  .regex(/^[^\r\n]+$/, 'must be one line');

/** Settings of `createGitHubForge`, checked at construction; errors name `github-forge.<option>`. */
export const gitHubForgeSettingsSchema = z
  .strictObject({
    /** The repository branches and pull requests go to, as `owner/name`. */
    repository: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/, 'must be owner/name (github.com/owner/name)'),
    /**
     * A personal access token (fine-grained or classic), a secret's value: sent to the API as a
     * bearer token and to git as the basic-auth password, never written anywhere. Give this or `app`.
     */
    token: oneLine.optional(),
    /**
     * A GitHub App installed on the repository: the forge signs a JWT with the app's private key and
     * exchanges it for an installation token (`POST /app/installations/{id}/access_tokens`), renewed
     * before it expires. Give this or `token`.
     */
    app: z
      .strictObject({
        /** The app's id (App settings, "About"); its client id (`Iv1.…`) is accepted too. */
        appId: z.union([z.int().positive(), oneLine]),
        /** The app's private key, PEM (`-----BEGIN RSA PRIVATE KEY-----`), a secret's value. */
        privateKey: z.string().regex(/-----BEGIN (?:RSA )?PRIVATE KEY-----/, 'must be the app’s PEM private key'),
        /** The installation on the repository's owner (the number in its settings URL). */
        installationId: z.int().positive(),
      })
      .optional(),
    /** GitHub's REST API; `https://<host>/api/v3` for GitHub Enterprise Server. */
    apiUrl: baseUrl.default('https://api.github.com'),
    /** Where repositories are cloned from: the remote is `<gitUrl>/<owner>/<name>.git`. */
    gitUrl: baseUrl.default('https://github.com'),
    /** Who the delivered commits are authored and committed by. */
    author: commitAuthorSchema,
    /** A git transfer slower than 1 KiB/s for this long is abandoned (CAIRN_FORGE_UNAVAILABLE). */
    stallSeconds: z.int().min(1).max(3600).default(60),
    /** An API request unanswered for this long is abandoned (CAIRN_FORGE_UNAVAILABLE). */
    requestTimeoutSeconds: z.int().min(1).max(600).default(30),
  })
  .superRefine((settings, context) => {
    if ((settings.token === undefined) === (settings.app === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'give exactly one of `token` (a personal access token) and `app` (a GitHub App installation)',
      });
    }
  });

export type GitHubForgeSettings = z.input<typeof gitHubForgeSettingsSchema>;
