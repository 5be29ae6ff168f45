import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const repositoryRoot = fileURLToPath(new URL('../../../../../../', import.meta.url));

/** The block of `docs/guides/<page>` titled `title`, as written there. */
export function guideSection(page: string, title: string): string {
  const found = new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(
    readFileSync(join(repositoryRoot, 'docs/guides', page), 'utf8'),
  )?.[1];
  if (found === undefined) throw new Error(`docs/guides/${page} has no block titled "${title}"`);
  return found;
}

/**
 * Configures the server in `directory` (its `cairn init` config at `configFile`) as the guides say:
 * the templates of from-an-issue-to-a-pull-request.md and the-review-loop.md written as they are
 * there, their config sections merged over the init config, GitHub's, git's and OpenAI's addresses
 * mapped to the loopback servers standing in for them. `github` is merged into `triggers.github`,
 * `sections` over the whole (an engine, a storage of the test's).
 */
export function writeReviewLoopConfig(options: {
  readonly directory: string;
  readonly configFile: string;
  readonly urls: { readonly githubApi: string; readonly git: string; readonly openai: string };
  readonly gitRoot: string;
  readonly github?: Record<string, unknown>;
  readonly sections?: Record<string, unknown>;
}): void {
  mkdirSync(join(options.directory, 'templates'), { recursive: true });
  writeFileSync(join(options.directory, 'templates', 'fix-issue.yaml'), guideSection('from-an-issue-to-a-pull-request.md', 'templates/fix-issue.yaml'));
  writeFileSync(join(options.directory, 'templates', 'answer-review.yaml'), guideSection('the-review-loop.md', 'templates/answer-review.yaml'));
  const loopback = (text: string) =>
    text
      .replaceAll('https://api.github.com', options.urls.githubApi)
      .replaceAll('https://github.com', options.urls.git)
      .replaceAll('https://api.openai.com/v1', options.urls.openai);
  type Sections = Record<string, Record<string, Record<string, unknown>>>;
  const first = parseYaml(loopback(guideSection('from-an-issue-to-a-pull-request.md', 'cairn.config.yaml (the sections added)'))) as Sections;
  const loop = parseYaml(guideSection('the-review-loop.md', 'cairn.config.yaml (the review loop)')) as Sections;
  writeFileSync(
    options.configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(options.configFile, 'utf8')) as object),
      ...first,
      templates: { ...first['templates'], ...loop['templates'] },
      triggers: { github: { ...first['triggers']!['github'], ...loop['triggers']!['github'], ...options.github } },
      workspaces: { repositories: [`${options.gitRoot}/`] },
      ...options.sections,
    }),
  );
}
