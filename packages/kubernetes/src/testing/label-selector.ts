/** One requirement of a label selector, as the API server parses `labelSelector`. */
interface Requirement {
  readonly key: string;
  readonly operator: 'exists' | 'not-exists' | 'in' | 'not-in';
  readonly values: readonly string[];
}

const keyPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const valuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/**
 * Parses a `labelSelector` query value the way the API server does (equality-based `a=b`, `a==b`,
 * `a!=b`; set-based `a in (x,y)`, `a notin (x)`, `a`, `!a`; requirements joined by commas) into a
 * predicate over an object's labels. Throws an Error with the server's wording on a bad selector
 * (the endpoint answers it as 400 BadRequest).
 */
export function parseLabelSelector(text: string): (labels: Readonly<Record<string, string>> | undefined) => boolean {
  const requirements: Requirement[] = [];
  // Commas inside parentheses belong to a set; split only on the others.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const character of text) {
    if (character === '(') depth++;
    if (character === ')') depth--;
    if (character === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += character;
  }
  parts.push(current);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') continue;
      throw new Error(`unable to parse requirement: found '', expected: identifier`);
    }
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    const equality = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    let requirement: Requirement;
    if (set) {
      const values = set[3]!.split(',').map((value) => value.trim());
      requirement = { key: set[1]!, operator: set[2] === 'in' ? 'in' : 'not-in', values };
    } else if (equality) {
      requirement = { key: equality[1]!, operator: equality[2] === '!=' ? 'not-in' : 'in', values: [equality[3]!] };
    } else if (/^!\s*\S+$/.test(part)) {
      requirement = { key: part.slice(1).trim(), operator: 'not-exists', values: [] };
    } else if (/^\S+$/.test(part)) {
      requirement = { key: part, operator: 'exists', values: [] };
    } else {
      throw new Error(`unable to parse requirement: ${JSON.stringify(part)}`);
    }
    if (!keyPattern.test(requirement.key)) {
      throw new Error(
        `unable to parse requirement: invalid label key ${JSON.stringify(requirement.key)}: name part must consist of alphanumeric characters, '-', '_' or '.'`,
      );
    }
    for (const value of requirement.values) {
      if (!valuePattern.test(value)) {
        throw new Error(
          `unable to parse requirement: invalid label value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`,
        );
      }
    }
    requirements.push(requirement);
  }
  return (labels) =>
    requirements.every((requirement) => {
      const value = labels?.[requirement.key];
      switch (requirement.operator) {
        case 'exists':
          return value !== undefined;
        case 'not-exists':
          return value === undefined;
        case 'in':
          return value !== undefined && requirement.values.includes(value);
        case 'not-in':
          return value === undefined || !requirement.values.includes(value);
      }
    });
}
