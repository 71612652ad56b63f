// A real OpenID Connect provider for the tests: oidc-provider (OpenID Certified), on a free
// port of 127.0.0.1, with one confidential client (the observatory) given on the command line.
//
//   node provider.mjs '{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}'
//
// It prints one JSON line once it listens: {"issuer": "http://127.0.0.1:PORT"}. People sign in
// through oidc-provider's development login form (any login, any password): the login typed
// becomes the subject, and its claims are an e-mail address equal to the login and a
// preferred_username (the part before "@"). The client is first-party: no consent screen.
//
// Test helpers beside the provider's routes:
//   /test/jwks-autre  a key set with the provider's key id but another key (a relying party
//                     that trusts it must refuse the provider's ID tokens).
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const client = JSON.parse(process.argv[2]);

function signingKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

const key = signingKey('cle-de-test');
const other = signingKey('cle-de-test');
const publicPart = ({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use });

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      ...client,
    }],
    jwks: { keys: [key] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
    },
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => false },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          // Test logins choose what the provider says of the address: "non-verifie.…" is
          // unverified, "sans-verif.…" comes without email_verified (as some providers do).
          const claims = {
            sub: id,
            email: id,
            email_verified: !id.startsWith('non-verifie.'),
            preferred_username: id.split('@')[0],
            name: id.split('@')[0],
          };
          if (id.startsWith('sans-verif.')) delete claims.email_verified;
          return claims;
        },
      };
    },
    // A first-party client: the person is not asked to consent to the observatory's scopes.
    async loadExistingGrant(ctx) {
      const existing = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) {
        return ctx.oidc.provider.Grant.find(existing);
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url === '/test/jwks-autre') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicPart(other)] }));
      return;
    }
    callback(req, res);
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
