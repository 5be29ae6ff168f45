import { isDurationText } from '@cairn/protocol';
import { z } from 'zod';

/**
 * `workspaces:` in the server config: where runs whose spec names `workspace: { repository, ref }`
 * may fetch from, how much history they get and how long a fetch may take. The fetched workspace is
 * bounded by `server.uploadLimitMiB`, as an uploaded one.
 */
export const workspacesConfigSchema = z.strictObject({
  /**
   * What a run's `workspace.repository` must start with: `https://` (the default) lets runs fetch
   * any https:// repository the server can reach; `https://git.example.com/team/` only that
   * team's. Plain `http://` on loopback and absolute paths on this machine (a mirror) are taken
   * only when listed here, since the submitter then reads what the server can.
   */
  repositories: z
    .array(
      z
        .string()
        .regex(
          /^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]|\/)/,
          'must start with https://, http://127.0.0.1, http://localhost or / (a path on this machine)',
        ),
    )
    .max(100)
    .default(['https://']),
  /** How many commits of the ref's history are fetched (and seen by `git log` in the sandbox). */
  history: z.int().min(1).max(10_000).default(50),
  /** A fetch that takes longer is abandoned and the run refused (CAIRN_FORGE_UNAVAILABLE). */
  fetchTimeout: z.string().refine(isDurationText, 'must be a duration: a whole number and one unit of ms, s, m, h or d (30s, 2m)').default('5m'),
});

export type WorkspacesConfig = z.output<typeof workspacesConfigSchema>;
