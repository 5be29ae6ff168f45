import { InvalidArgumentError } from 'commander';
import { clientOf, json, program, say } from './cli-program.ts';

/** `--param name=value`, repeatable: the value is everything after the first `=`, taken as it is. */
export function collectParameter(text: string, parameters: Record<string, string> = {}): Record<string, string> {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new InvalidArgumentError(`must be NAME=VALUE (e.g. issue.title="Fix the login page"), not ${JSON.stringify(text)}.`);
  const name = text.slice(0, equals);
  if (Object.hasOwn(parameters, name)) throw new InvalidArgumentError(`gives ${name} twice; give each parameter once.`);
  return { ...parameters, [name]: text.slice(equals + 1) };
}

/** `cairn run` and `cairn templates`: runs from the run templates of a running server's config. */
export function addTemplateCommands(): void {
  program
    .command('run')
    .argument('<template>', "a template of the server's config (cairn templates lists them)")
    .option('-p, --param <name=value>', 'a parameter of the template, as a string (repeat for each)', collectParameter)
    .option('--idempotency-key <key>', 'the same key and filled spec return the same run')
    .option('-q, --quiet', 'print only the run id')
    .option('--server <url>', "the server (default: this config's server.host:server.port)")
    .description('submit a run from a template of the server, its parameters put into the spec as string values')
    .action(async (template: string, options: { param?: Record<string, string>; idempotencyKey?: string; quiet?: boolean; server?: string }) => {
      const cairn = await clientOf(options.server);
      const submitted = await cairn.submitTemplate(template, options.param ?? {}, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {});
      say(
        options.quiet
          ? submitted.runId
          : json()
            ? JSON.stringify(submitted)
            : `run ${submitted.runId} ${submitted.created ? `submitted from template ${template}` : 'already existed (same idempotency key and spec)'}`,
      );
    });

  program
    .command('templates')
    .option('--server <url>', 'the server')
    .description("the run templates of the server's config, and their parameters")
    .action(async (options: { server?: string }) => {
      const templates = await (await clientOf(options.server)).templates();
      if (json()) return void say(JSON.stringify(templates));
      if (templates.length === 0) return void say('no templates (add them under templates: in the server config)');
      for (const template of templates) {
        say(`${template.name}${template.description ? `  ${template.description}` : ''}`);
        for (const parameter of template.parameters)
          say(
            `  --param ${parameter.name}=...${parameter.required ? '  (required)' : `  (default ${JSON.stringify(parameter.default)})`}${parameter.description ? `  ${parameter.description}` : ''}`,
          );
      }
    });
}
