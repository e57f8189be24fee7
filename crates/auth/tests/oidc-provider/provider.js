// An independent OpenID provider (the npm `oidc-provider` package) for the auth crate's tests of
// tenants of type `oidc`. The test starts it with `node provider.js`, configured by environment:
//
//   OIDC_PORT           port on 127.0.0.1 to listen on (0 or unset: any free port)
//   OIDC_ISSUER_HOST    host name the issuer announces (default 127.0.0.1; the tests set
//                       `localhost` to make discovery name another issuer than the one configured)
//   OIDC_CLIENT_ID      the one OAuth client ...
//   OIDC_CLIENT_SECRET  ... its secret ...
//   OIDC_REDIRECT_URI   ... and its one redirect URI
//   OIDC_CLIENT_AUTH    client_secret_basic (default) or client_secret_post: the only method the
//                       provider offers at its token endpoint
//   OIDC_ID_TOKEN_ALG   RS256 (default) or ES256
//   OIDC_KEYS_FILE      a JSON file of private JWKs: read when it exists, otherwise made and written,
//                       so that two providers can sign with the same keys
//   OIDC_USERS          JSON {"<login>": {"password": "...", "sub": "...", "claims": {...}}}: who may
//                       sign in; `sub` (default: the login) is the subject, the claims are what
//                       the provider releases by scope
//   OIDC_TLS_CERT       PEM files of a serving certificate and its key: serve https instead of
//   OIDC_TLS_KEY        plain http
//
// Once it listens it prints one line, `ready <issuer>`, on stdout.
//
// Interactions are its own minimal pages (no devInteractions): a login form that checks the
// password and a consent form, both plain HTML forms a test can post without JavaScript.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) {
      console.error(`${name} is required`);
      process.exit(2);
    }
    return fallback;
  }
  return value;
};

const port = Number(env('OIDC_PORT', '0'));
const issuerHost = env('OIDC_ISSUER_HOST', '127.0.0.1');
const clientId = env('OIDC_CLIENT_ID');
const clientSecret = env('OIDC_CLIENT_SECRET');
const redirectUri = env('OIDC_REDIRECT_URI');
const clientAuth = env('OIDC_CLIENT_AUTH', 'client_secret_basic');
const idTokenAlg = env('OIDC_ID_TOKEN_ALG', 'RS256');
const keysFile = env('OIDC_KEYS_FILE', '');
const users = JSON.parse(env('OIDC_USERS', '{}'));
const tlsCert = env('OIDC_TLS_CERT', '');
const tlsKey = env('OIDC_TLS_KEY', '');
// Accounts by subject, as `findAccount` is asked for them.
const accounts = new Map(Object.entries(users).map(([login, u]) => [u.sub || login, u]));

function signingKeys() {
  if (keysFile && existsSync(keysFile)) {
    return JSON.parse(readFileSync(keysFile, 'utf8'));
  }
  const kid = randomUUID().slice(0, 8);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const jwks = {
    keys: [
      { ...rsa, kid: `rsa-${kid}`, use: 'sig', alg: 'RS256' },
      { ...ec, kid: `ec-${kid}`, use: 'sig', alg: 'ES256' },
    ],
  };
  if (keysFile) {
    writeFileSync(keysFile, JSON.stringify(jwks), { mode: 0o600 });
  }
  return jwks;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      data += chunk;
      if (data.length > 65536) {
        reject(new Error('form too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

function loginPage(uid, error) {
  return page('Sign in', `${error ? `<p class="error">${escape(error)}</p>` : ''}`
    + `<form method="post" action="/interaction/${escape(uid)}/login">`
    + '<label>Login <input name="login" autofocus></label>'
    + '<label>Password <input name="password" type="password"></label>'
    + '<button type="submit">Sign in</button></form>');
}

function consentPage(uid, clientName, scopes) {
  return page('Authorize', `<p>${escape(clientName)} asks for: ${escape(scopes.join(', '))}</p>`
    + `<form method="post" action="/interaction/${escape(uid)}/confirm">`
    + '<button type="submit">Allow</button></form>');
}

// Our interaction routes: `/interaction/<uid>` shows the page of the pending prompt, `/login`
// and `/confirm` under it take the forms. Everything else is the provider's.
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Error', '<p>interaction mismatch</p>'));
    return;
  }
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      send(res, 200, loginPage(uid));
    } else {
      const scopes = prompt.details.missingOIDCScope || [];
      send(res, 200, consentPage(uid, params.client_id, scopes));
    }
    return;
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const login = form.get('login') || '';
    const user = Object.hasOwn(users, login) ? users[login] : undefined;
    if (!user || user.password !== form.get('password')) {
      send(res, 200, loginPage(uid, 'Invalid login or password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub || login } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) {
      grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    }
    if (prompt.details.missingOIDCClaims) {
      grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  send(res, 400, page('Error', `<p>unexpected ${escape(req.method)} for prompt ${escape(prompt.name)}</p>`));
}

const server = tlsCert
  ? https.createServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) })
  : http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `${tlsCert ? 'https' : 'http'}://${issuerHost}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: clientAuth,
      id_token_signed_response_alg: idTokenAlg,
    }],
    clientAuthMethods: [clientAuth],
    jwks: signingKeys(),
    // Which claims each scope releases. With the code flow the provider puts only `sub` in the
    // ID token and the rest in userinfo (its default `conformIdTokenClaims`), as many do.
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
      groups: ['groups', 'roles'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    async findAccount(ctx, sub) {
      const account = accounts.get(sub);
      if (!account) {
        return undefined;
      }
      return {
        accountId: sub,
        async claims() {
          return { ...account.claims, sub };
        },
      };
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, i) => `/interaction/${i.uid}` },
    cookies: { keys: [randomUUID()] },
    pkce: { required: () => true },
    // Fixed lifetimes (the defaults are functions the package asks to be replaced).
    ttl: {
      AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escape(JSON.stringify(out))}</pre>`);
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm))?(?:\?|$)/.exec(req.url);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, match[1], match[2]).catch((err) => {
      if (!res.headersSent) {
        send(res, 400, page('Error', `<p>${escape(err.message)}</p>`));
      }
    });
  });
  process.stdout.write(`ready ${issuer}\n`);
});

// The test kills it; also leave when the test's end of stdin closes.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
