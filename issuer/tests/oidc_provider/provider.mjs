// A real OpenID provider for the issuer's sign-in tests: panva's certified `oidc-provider`
// (pinned by `cargo xtask setup` into `$JITGATE_OIDC_PROVIDER_DIR`), with one confidential
// client and the package's own development login and consent pages.
//
//   node provider.mjs --port 0 --client-id ID --client-secret S --redirect-uri URI
//                     [--cli-client-id ID]
//
// Serves the issuer http://127.0.0.1:<port> (port 0: a free one) on loopback only. Once it
// listens it prints exactly one line to stdout, {"issuer":"http://127.0.0.1:<port>"}, and
// runs until killed. Everything else (the package's notices included) goes to stderr.
//
// - Client: confidential (client_secret_basic), authorization_code + refresh_token, response
//   type code, exactly the given redirect URI. PKCE is required for it, S256 only.
// - Accounts: any login name at the login form (any password) signs in as that account:
//   sub = the login, email = <login>@example.com (email_verified true), groups from GROUPS.
// - Scopes openid, email, groups, offline_access; `email` and `groups` are put in the ID
//   token too (conformIdTokenClaims: false), not only at userinfo.
// - Consent: the package's consent page is shown and must be submitted (the test browser in
//   mod.rs does); with prompt=consent and offline_access a refresh token is issued.
// - With --cli-client-id: also a public, native client (no secret, PKCE) for `jitgate login`,
//   redirecting to http://127.0.0.1/callback on any port (RFC 8252, 7.3).
// - Token revocation (RFC 7009) is on, for `jitgate logout`.
// - Signing: a fresh RSA key (RS256) generated at every start.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// The package's notices (`oidc-provider NOTICE: …`) use console.info, which writes to
// stdout; the ready line must be the only thing there.
console.info = (...args) => console.error(...args);

const GROUPS = {
  alice: ['ml-eng'],
  bob: ['ml-leads', 'ml-eng'],
  carol: ['ml-leads', 'sre-leads'],
  root: ['jitgate-admins', 'ml-leads', 'ml-eng'],
};

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      'cli-client-id': { type: 'string' },
    },
    strict: true,
  }));
} catch (error) {
  fail(error.message);
}
for (const name of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!options[name]) fail(`--${name} is required`);
}
const port = Number(options.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${options.port}: not a port`);

const packageDir = process.env.JITGATE_OIDC_PROVIDER_DIR;
if (!packageDir) {
  fail('JITGATE_OIDC_PROVIDER_DIR is not set (the folder `cargo xtask setup` installs oidc-provider into)');
}
// oidc-provider 9 is ESM only, and ESM ignores NODE_PATH: import it by its file URL
// (`main` of the package is lib/index.js).
let Provider;
try {
  ({ Provider } = await import(pathToFileURL(join(packageDir, 'node_modules/oidc-provider/lib/index.js')).href));
} catch (error) {
  fail(`cannot load oidc-provider from ${packageDir} (run \`cargo xtask setup\`): ${error.message}`);
}

// Listen first, so that port 0 is resolved before the issuer URL is fixed.
const server = createServer();
server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: options['client-id'],
      client_secret: options['client-secret'],
      redirect_uris: [options['redirect-uri']],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    ...(options['cli-client-id']
      ? [
          {
            client_id: options['cli-client-id'],
            application_type: 'native',
            token_endpoint_auth_method: 'none',
            redirect_uris: ['http://127.0.0.1/callback'],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            id_token_signed_response_alg: 'RS256',
          },
        ]
      : []),
  ],
  jwks: { keys: [signingKey] },
  // The default requires PKCE only for public clients; here every authorization request
  // must carry one. S256 is the only method oidc-provider 9 accepts.
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Put the scope-requested claims in the ID token as well, even though an access token
  // is issued alongside it.
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: `${sub}@example.com`,
          email_verified: true,
          groups: GROUPS[sub] ?? [],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
  },
  // Plain http on loopback: cookies are not `secure` (oidc-provider sets that only when the
  // request came over TLS), signed with a key made at start.
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 86400,
    Interaction: 600,
    Session: 3600,
    Grant: 86400,
  },
  // Error pages keep the error visible to the test browser in the HTML it reports.
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>oidc-provider error</title><pre>${JSON.stringify(out)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')}</pre>`;
  },
});

provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error:', error));

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
