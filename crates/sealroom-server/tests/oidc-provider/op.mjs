// A real OpenID Connect provider for Sealroom's OIDC tests: oidc-provider (OpenID Certified),
// with its development login and consent forms (any login is accepted; the account id is the
// login). Started by crates/sealroom-server/tests/oidc.rs and web/tests/oidc.test.mjs:
//   OP_PORT=… REDIRECT_URI=… POST_LOGOUT_URI=… node op.mjs
// Prints "listening <issuer>" once it serves. Keys are new at every start.
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;

// The test users: `groups` drives Sealroom's role mapping (sealroom-admins → admin).
const USERS = {
  alice: { sub: 'alice', preferred_username: 'alice', name: 'Alice Admin', email: 'alice@corp.example', email_verified: true, groups: ['staff', 'sealroom-admins'] },
  bob: { sub: 'bob', preferred_username: 'bob', name: 'Bob Member', email: 'bob@corp.example', email_verified: true, groups: ['staff'] },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'sealroom',
    client_secret: 'sealroom-secret',
    redirect_uris: [process.env.REDIRECT_URI],
    post_logout_redirect_uris: [process.env.POST_LOGOUT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return USERS[sub] ?? { sub, preferred_username: sub }; } };
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['test-only-not-a-secret'] },
});
provider.on('server_error', (ctx, error) => console.error('op server_error', error));
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
