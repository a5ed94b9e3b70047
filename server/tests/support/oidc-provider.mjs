// A real OAuth 2.0 / OpenID Connect server for the tests: `oidc-provider` from npm (a certified
// implementation), on a loopback port. It issues:
// - client-credentials tokens (client `m365-app`, as Microsoft 365 app-only access does),
// - authorization-code tokens with refresh tokens (client `webapp`, PKCE, the development
//   login and consent pages, which the test fills in),
// - JWT-bearer tokens (RFC 7523) for a service account whose key this script makes and prints,
//   as Google's token endpoint does for domain-wide delegation,
// and answers RFC 7662 introspection (client `dovecot`) and revocation.
//
// For single sign-on into tlswatch it has two clients (`tlswatch-sso` with
// client_secret_basic, `tlswatch-sso-post` with client_secret_post) and a few people whose
// claims say their e-mail, groups and tlswatch organization and role (`PEOPLE` below).
//
// Every token carries the mailbox it is for as the `username` claim, returned by
// introspection, which Dovecot's oauth2 passdb compares with the IMAP user.
//
// Prints one JSON line: { issuer, service_account } and serves until killed.
//
// Environment: MAILBOX_USER (the IMAP user tokens are for), REDIRECT_URI (of `webapp`),
// SSO_REDIRECT_URI (of the single sign-on clients).
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { createServer } from 'node:net';
import Provider, { errors } from 'oidc-provider';
import * as jose from 'jose';

const mailbox = process.env.MAILBOX_USER || 'reports';
const redirect = process.env.REDIRECT_URI || 'http://127.0.0.1:9/oauth/mailbox';
const ssoRedirect = process.env.SSO_REDIRECT_URI || 'http://127.0.0.1:9/auth/oidc/callback';

// People who sign in to tlswatch, by login name.
const PEOPLE = {
  alice: { email: 'Alice@Acme.example', email_verified: true, groups: ['tlswatch-users'], tlswatch: { org: 'acme', role: 'editor' } },
  bob: { email: 'bob@acme.example', email_verified: true, groups: ['sales'], tlswatch: { org: 'acme', role: 'admin' } },
  carol: { email: 'carol@initech.example', email_verified: true, groups: ['tlswatch-users'], tlswatch: { org: 'initech', role: 'viewer' } },
  dave: { email: 'dave@acme.example', email_verified: true, groups: ['tlswatch-users'], tlswatch: { org: 'acme', role: 'superuser' } },
  erin: { email: 'erin@acme.example', email_verified: false, groups: ['tlswatch-users'], tlswatch: { org: 'acme', role: 'viewer' } },
};

const port = await new Promise((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const issuer = `http://127.0.0.1:${port}`;

// The service account, as Google's JSON key file has it.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const serviceAccount = {
  type: 'service_account',
  client_email: 'tlswatch@test-project.iam.gserviceaccount.example',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  token_uri: `${issuer}/token`,
};
const serviceAccountPublic = createPublicKey(privateKey);

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAIL_SCOPES = [
  'https://outlook.office365.com/.default',
  'https://graph.microsoft.com/.default',
  'https://mail.google.com/',
];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'm365-app',
      client_secret: 'm365-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: MAIL_SCOPES.join(' '),
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: serviceAccount.client_email,
      grant_types: [JWT_BEARER],
      redirect_uris: [],
      response_types: [],
      scope: MAIL_SCOPES.join(' '),
      token_endpoint_auth_method: 'none',
    },
    {
      client_id: 'webapp',
      client_secret: 'webapp-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [redirect],
      response_types: ['code'],
      scope: `openid offline_access ${MAIL_SCOPES.join(' ')}`,
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: 'tlswatch-sso',
      client_secret: 'sso-secret',
      grant_types: ['authorization_code'],
      redirect_uris: [ssoRedirect],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'tlswatch-sso-post',
      client_secret: 'sso-post-secret',
      grant_types: ['authorization_code'],
      redirect_uris: [ssoRedirect],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: 'dovecot',
      client_secret: 'dovecot-secret',
      grant_types: [],
      redirect_uris: [],
      response_types: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'tlswatch', ...MAIL_SCOPES],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
    tlswatch: ['tlswatch'],
  },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
  },
  pkce: { required: () => true },
  cookies: { keys: ['tlswatch-test-cookie-key'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: id, ...(PEOPLE[id] || {}) }),
  }),
  async extraTokenClaims(ctx, token) {
    // The account signed in, the subject of a service account's assertion, or (app-only)
    // the test's mailbox.
    return { username: token.accountId || ctx?.oidc?.jwtBearerSubject || mailbox };
  },
  ttl: { AccessToken: 600, ClientCredentials: 600 },
  // Refresh tokens are rotated (each use returns a new one), as Microsoft's are.
  rotateRefreshToken: true,
});

// RFC 7523 JWT bearer grant: the assertion, signed by the service account's key, names the
// account (iss), the mailbox (sub), the scopes and this token endpoint (aud).
provider.registerGrantType(JWT_BEARER, async (ctx) => {
  const { assertion } = ctx.oidc.params;
  let claims;
  try {
    ({ payload: claims } = await jose.jwtVerify(assertion, serviceAccountPublic, {
      issuer: serviceAccount.client_email,
      audience: `${issuer}/token`,
      algorithms: ['RS256'],
    }));
  } catch (e) {
    throw new errors.InvalidGrant(`assertion refused: ${e.message}`);
  }
  if (!claims.sub) throw new errors.InvalidGrant('the assertion names no subject');
  ctx.oidc.jwtBearerSubject = claims.sub;
  const token = new provider.ClientCredentials({
    client: ctx.oidc.client,
    scope: String(claims.scope || ''),
  });
  const value = await token.save();
  ctx.body = {
    access_token: value,
    expires_in: token.expiration,
    token_type: 'Bearer',
    scope: token.scope,
  };
}, ['assertion']);

// Google's token endpoint knows the service account from the assertion alone; oidc-provider
// needs the client id: the request is replayed with the assertion's issuer as client_id.
const original = provider.callback();
const { createServer: http } = await import('node:http');
const { Readable } = await import('node:stream');
// How each client last authenticated at the token endpoint (oidc-provider accepts a secret
// either way), for the tests to see which one tlswatch used: GET /test/token-auth.
const tokenAuth = {};
http(async (req, res) => {
  if (req.method === 'GET' && req.url === '/test/token-auth') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(tokenAuth));
  }
  if (req.method === 'POST' && req.url === '/token') {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    const params = new URLSearchParams(body);
    const basic = (req.headers.authorization || '').match(/^Basic (.+)$/i);
    if (params.get('client_secret')) {
      tokenAuth[params.get('client_id')] = 'client_secret_post';
    } else if (basic) {
      const id = decodeURIComponent(Buffer.from(basic[1], 'base64').toString().split(':')[0]);
      tokenAuth[id] = 'client_secret_basic';
    }
    if (params.get('grant_type') === JWT_BEARER && !params.get('client_id')) {
      try {
        params.set('client_id', jose.decodeJwt(params.get('assertion') || '').iss || '');
      } catch { /* a malformed assertion is refused by the grant */ }
    }
    const replay = params.toString();
    const again = Readable.from([Buffer.from(replay)]);
    Object.assign(again, {
      method: req.method,
      url: req.url,
      headers: { ...req.headers, 'content-length': String(Buffer.byteLength(replay)) },
      socket: req.socket,
      connection: req.connection,
      httpVersion: req.httpVersion,
    });
    return original(again, res);
  }
  return original(req, res);
}).listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, service_account: serviceAccount })}\n`);
});
