// An OpenID provider on this machine, to try signing people in (docs/operations/sign-in-with-oidc.md)
// without an account at a real one: the same provider the tests sign in through
// (packages/oidc/src/test-identity-provider.test-support.ts: oidc-provider, a certified
// implementation, with its development login pages, where any password is accepted). It is a test
// tool, not the product: nothing here is for production, and `cairn` has no command for it.
//
// Usage: node scripts/dev-idp.mjs [--config FILE] [--port N]
//   --config FILE  a server config (cairn init's) to point at this provider: sets server.auth to
//                  tokens and writes server.oidc (roles, grants, the dashboard's and the CLI's
//                  clients), keeping the file's comments; without it, the section is printed
//   --port N       where the provider listens on 127.0.0.1 (default 7700, or the next free port)
// The server's address, which the dashboard's redirect URI names, is 127.0.0.1 and the port
// `cairn serve` will use: CAIRN_PORT when set, else the config's server.port, else 7600.
// It prints `ready <issuer>` once it answers, and runs until SIGTERM or Ctrl-C.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { portIsFree } from './dev-cloud-port.mjs';

const repositoryRoot = new URL('../', import.meta.url);

function usage(problem) {
  process.stderr.write(`${problem}\nusage: node scripts/dev-idp.mjs [--config FILE] [--port N]\n`);
  process.exit(2);
}

const options = {};
const argv = process.argv.slice(2);
for (let index = 0; index < argv.length; index += 2) {
  const [name, value] = [argv[index], argv[index + 1]];
  if ((name !== '--config' && name !== '--port') || value === undefined) usage(`unknown or incomplete option: ${argv.slice(index).join(' ')}`);
  options[name.slice(2)] = value;
}
const preferredPort = options.port === undefined ? 7700 : Number(options.port);
if (!Number.isInteger(preferredPort) || preferredPort < 1 || preferredPort > 65535) usage(`--port must be a port number (1-65535), not "${options.port}"`);

// The server's config is YAML; the server's own YAML library edits it with its comments kept.
const YAML = createRequire(new URL('apps/server/package.json', repositoryRoot)).call(null, 'yaml');
const configPath = options.config === undefined ? undefined : resolve(options.config);
let document;
if (configPath) {
  try {
    document = YAML.parseDocument(readFileSync(configPath, 'utf8'));
  } catch (error) {
    usage(`--config ${configPath} cannot be read: ${error.message}`);
  }
  if (document.errors.length > 0) usage(`--config ${configPath} is not YAML: ${document.errors[0].message}`);
}
const serverPort = Number(process.env.CAIRN_PORT ?? document?.getIn(['server', 'port']) ?? 7600);
const server = `http://127.0.0.1:${serverPort}`;

// The people, one per role of the config below: the login page's name is the person; any password.
const people = [
  { subject: 'ana', email: 'ana@example.com', groups: ['admins'] },
  { subject: 'bo', email: 'bo@example.com', groups: ['eng'] },
  { subject: 'cy', email: 'cy@example.com', groups: ['release-managers'] },
  { subject: 'dee', email: 'dee@example.com', groups: [] },
].map((person) => ({ ...person, secret: crypto.randomUUID() }));

let port = preferredPort;
while (!(await portIsFree(port))) {
  if (port >= preferredPort + 99) usage(`no free port from ${preferredPort} to ${port} on 127.0.0.1: stop what listens there, or pass --port`);
  port += 1;
}
const { TestIdentityProvider } = await import(new URL('packages/oidc/src/test-identity-provider.test-support.ts', repositoryRoot).href);
const provider = await TestIdentityProvider.start({ people, audience: 'cairn', port });
provider.useSignInClients({
  dashboard: { clientId: 'cairn-dashboard', redirectUri: `${server}/v1/session/oidc/callback` },
  cli: { clientId: 'cairn-cli' },
});

const oidc = {
  issuer: provider.issuer,
  audience: 'cairn',
  roles: {
    viewer: ['runs:read'],
    operator: ['runs:read', 'runs:submit', 'runs:cancel'],
    approver: ['runs:read', 'runs:approve'],
    admin: ['admin'],
  },
  grants: [
    { group: 'admins', role: 'admin' },
    { group: 'eng', role: 'operator' },
    { group: 'release-managers', role: 'approver' },
  ],
  dashboard: { clientId: 'cairn-dashboard', redirectUri: `${server}/v1/session/oidc/callback` },
  cli: { clientId: 'cairn-cli' },
};

if (configPath) {
  document.setIn(['server', 'auth'], 'tokens');
  const section = document.createNode(oidc);
  // Lists of names and each grant on one line, as the docs write them.
  YAML.visit(section, {
    Seq: (_key, node) => void (node.flow = node.items.every(YAML.isScalar)),
    Map: (_key, node, path) => void (node.flow = YAML.isSeq(path.at(-1))),
  });
  document.setIn(['server', 'oidc'], section);
  writeFileSync(configPath, document.toString({ flowCollectionPadding: false }));
  console.log(`wrote server.auth: tokens and server.oidc (issuer ${provider.issuer}) into ${configPath}`);
} else {
  console.log('# add to your server config (cairn.config.yaml):');
  console.log(YAML.stringify({ server: { auth: 'tokens', oidc } }).trimEnd());
}
if (port !== preferredPort) console.log(`port ${preferredPort} was taken on 127.0.0.1: the provider listens on ${port}`);
console.log(`people: ana (admins: admin), bo (eng: operator), cy (release-managers: approver), dee (no grant: refused); any password`);
console.log(`ready ${provider.issuer}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void provider.close().then(() => process.exit(0));
  });
}
