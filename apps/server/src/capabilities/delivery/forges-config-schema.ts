import { z } from 'zod';

/** A server secret's name (`cairn secret set NAME`), never its value. */
const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must name a secret of the server (set with `cairn secret set NAME`), never the token itself');

/** Refuses a token written inline where a secret's name belongs, saying what to write instead. */
const noInlineToken = z
  .never({ error: 'a token is never written in the config: store it with `cairn secret set NAME` and name that secret as tokenSecret' })
  .optional();

/** Who delivered commits are authored and committed by (the forges' `author`). */
const author = z.strictObject({ name: z.string().min(1), email: z.string().min(3) }).optional();

/**
 * What a delivery does with a patch touching what the forge runs as configuration (its CI): the
 * server's, not the forge package's, option, read by the delivery (`protected-paths.ts`).
 */
const protectedPaths = z
  .strictObject({
    paths: z
      .array(
        z
          .string()
          .min(1)
          .max(256)
          .refine((glob) => !glob.startsWith('/'), 'must be a path from the repository root without a leading "/", e.g. .github/workflows/**'),
      )
      .max(200)
      .optional()
      .meta({
        description:
          'Globs of protected paths from the repository root (* and ? within a folder, ** across folders); they replace the default list of CI configuration (.github/workflows/**, .gitlab-ci.yml, .circleci/**, Jenkinsfile, ...); [] protects nothing',
      }),
    action: z.enum(['flag', 'refuse']).optional().meta({
      description:
        'flag (the default): deliver, naming the protected paths in the change request and in Item.delivery; refuse: deliver nothing (CAIRN_FORGE_PATH_PROTECTED)',
    }),
  })
  .optional();

/**
 * A git remote (`@cairn/git-forge`): branches only, no change requests. Its options are the
 * package's (`remote`, `username`, `author`, `stallSeconds`), checked by it when the server starts;
 * the token is read from the server secret `tokenSecret` when the forge is first used.
 */
export const gitForgeConfigSchema = z.strictObject({
  kind: z.literal('git'),
  /** An https:// URL of the repository (http:// on loopback only), or an absolute path on this machine. */
  remote: z.string().min(1, 'must name the repository: an https:// URL or an absolute path'),
  /** The user name sent with the token (basic auth); GitLab wants `oauth2`. */
  username: z.string().min(1).optional(),
  /** The server secret holding the token (an https remote's password); none for a path. */
  tokenSecret: secretName.optional(),
  token: noInlineToken,
  author,
  stallSeconds: z.int().min(1).max(3600).optional(),
  protectedPaths,
});

/**
 * A GitHub repository (`@cairn/github-forge`): branches and pull requests, authenticated with a
 * token (`tokenSecret`) or as a GitHub App installation (`app`, its private key in a secret).
 */
export const githubForgeConfigSchema = z.strictObject({
  kind: z.literal('github'),
  /** `owner/name`. */
  repository: z.string().min(3, 'must be owner/name'),
  /** The server secret holding a personal access token (contents and pull requests: write). Give this or `app`. */
  tokenSecret: secretName.optional(),
  token: noInlineToken,
  /** A GitHub App installed on the repository; its private key (PEM) in the server secret `privateKeySecret`. Give this or `tokenSecret`. */
  app: z
    .strictObject({
      appId: z.union([z.int().positive(), z.string().min(1)]),
      privateKeySecret: secretName,
      installationId: z.int().positive(),
    })
    .optional(),
  /** GitHub's REST API; `https://HOST/api/v3` for GitHub Enterprise Server. */
  apiUrl: z.string().min(1).optional(),
  /** Where repositories are cloned from (`https://github.com`). */
  gitUrl: z.string().min(1).optional(),
  author,
  stallSeconds: z.int().min(1).max(3600).optional(),
  requestTimeoutSeconds: z.int().min(1).max(600).optional(),
  protectedPaths,
});

/**
 * `forges:` in the server config: where deliver items push, by the name they give as
 * `runtime.forge`. Each forge's package is loaded only when one of its kind is configured.
 */
export const forgesConfigSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a forge name: letters, digits, ".", "_" and "-", e.g. github'),
  z.discriminatedUnion('kind', [gitForgeConfigSchema, githubForgeConfigSchema], {
    error: "must be { kind: git, remote, tokenSecret? } or { kind: github, repository, tokenSecret | app } (forges.NAME.kind is 'git' or 'github')",
  }),
);

export type ForgeConfig = z.output<typeof gitForgeConfigSchema> | z.output<typeof githubForgeConfigSchema>;
export type ForgesConfig = z.output<typeof forgesConfigSchema>;
