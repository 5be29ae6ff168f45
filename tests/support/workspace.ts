import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ExportConditions {
  '@cairn/source'?: string;
  types?: string;
  import?: string;
}

export interface WorkspacePackage {
  /** e.g. `@cairn/core` */
  name: string;
  /** the folder name, e.g. `core` */
  folder: string;
  directory: string;
  manifest: {
    name: string;
    version: string;
    private?: boolean;
    type?: string;
    sideEffects?: boolean;
    engines?: Record<string, string>;
    exports?: Record<string, ExportConditions | string>;
    files?: string[];
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
}

/** Every publishable package under packages/ and apps/, read from the folders. */
export function publishablePackages(): WorkspacePackage[] {
  const found: WorkspacePackage[] = [];
  for (const group of ['packages', 'apps']) {
    const groupDirectory = join(repositoryRoot, group);
    if (!existsSync(groupDirectory)) continue;
    for (const folder of readdirSync(groupDirectory).sort()) {
      const directory = join(groupDirectory, folder);
      const manifestPath = join(directory, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as WorkspacePackage['manifest'];
      if (manifest.private) continue;
      found.push({ name: manifest.name, folder, directory, manifest });
    }
  }
  return found;
}

export interface DeclaredExports {
  /** Names exported as values (must exist at run time in dist). */
  values: string[];
  /** Names exported as types only. */
  types: string[];
  /** `export * from ...` statements (forbidden by the conventions). */
  starExports: string[];
  /** Statements that are not re-exports (an index must only re-export). */
  otherStatements: string[];
}

/** Reads an entry file's re-exports with the TypeScript parser. */
export function declaredExports(entryFile: string): DeclaredExports {
  const source = ts.createSourceFile(entryFile, readFileSync(entryFile, 'utf8'), ts.ScriptTarget.Latest, true);
  const result: DeclaredExports = { values: [], types: [], starExports: [], otherStatements: [] };
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (!clause || ts.isNamespaceExport(clause)) {
        result.starExports.push(statement.getText(source));
        continue;
      }
      for (const element of clause.elements) {
        const typeOnly = statement.isTypeOnly || element.isTypeOnly;
        (typeOnly ? result.types : result.values).push(element.name.text);
      }
      continue;
    }
    if (ts.isImportDeclaration(statement)) continue;
    // `export const VERSION = '...'` is the one declaration allowed in an index file.
    if (ts.isVariableStatement(statement) && statement.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) result.values.push(declaration.name.text);
      }
      if (statement.declarationList.declarations.some((d) => !ts.isIdentifier(d.name) || d.name.text !== 'VERSION')) {
        result.otherStatements.push(statement.getText(source));
      }
      continue;
    }
    result.otherStatements.push(statement.getText(source).slice(0, 80));
  }
  return result;
}

/** Every relative-or-package import specifier in a package's source files (tests and `*.test-support.ts` helpers excluded). */
export function importedPackages(sourceDirectory: string): Set<string> {
  const imported = new Set<string>();
  const visit = (directory: string) => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) {
        visit(path);
        continue;
      }
      if (!entry.name.endsWith('.ts') || /\.test(-d|-support)?\.ts$/.test(entry.name)) continue;
      const text = readFileSync(path, 'utf8');
      // Static imports and re-exports (`import x from 'p'`, `export { y } from 'p'`, `import 'p'`)
      // and dynamic `import('p')`; relative specifiers and node: built-ins are not packages.
      const statements = /^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
      for (const match of text.matchAll(statements)) {
        const specifier = (match[1] ?? match[2] ?? match[3])!;
        if (specifier.startsWith('node:') || specifier.startsWith('.')) continue;
        const parts = specifier.split('/');
        imported.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
      }
    }
  };
  visit(sourceDirectory);
  return imported;
}
