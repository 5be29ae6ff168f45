import { githubOpenApi, operationTemplate, pointerStep } from './github-openapi.test-support.ts';

/**
 * Checks an answer of the GitHub test endpoint against GitHub's published description of its REST
 * API (`@octokit/openapi`): the JSON body of `status` for the operation asked must have the shape
 * the operation's response schema for that status gives (`pull-request`, `issue-comment`,
 * `basic-error`, …), followed through `components/responses`. A status the operation does not
 * document, or one documented without a JSON body (a 302, a 204), is not read. So the stand-in
 * cannot answer what GitHub never would and have a client pass against it.
 */
export function githubResponseProblem(method: string, pathname: string, status: number, body: unknown): string | undefined {
  const template = operationTemplate(method, pathname);
  if (template === undefined) return undefined;
  const { description, validatorAt } = githubOpenApi();
  const operation = description.paths[template]?.[method.toLowerCase()];
  const documented = operation?.responses?.[String(status)] as { $ref?: string; content?: Record<string, { schema?: object }> } | undefined;
  if (documented === undefined) return undefined;
  const pointer =
    documented.$ref === undefined
      ? documented.content?.['application/json']?.schema === undefined
        ? undefined
        : `/paths/${pointerStep(template)}/${method.toLowerCase()}/responses/${status}/content/application~1json/schema`
      : description.components.responses[documented.$ref.split('/').at(-1)!]?.content?.['application/json']?.schema === undefined
        ? undefined
        : `/components/responses/${pointerStep(documented.$ref.split('/').at(-1)!)}/content/application~1json/schema`;
  if (pointer === undefined) return undefined;
  const validate = validatorAt(pointer);
  if (validate(body)) return undefined;
  const [error] = validate.errors ?? [];
  const where = error?.instancePath ? error.instancePath : 'the body';
  const what = error?.keyword === 'required' ? `must have ${String(error.params['missingProperty'])}` : (error?.message ?? 'is not valid');
  return `${method} ${template} ${status}: ${where} ${what}`;
}
