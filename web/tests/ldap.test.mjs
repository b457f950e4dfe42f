// Signing in with a directory's password in Chromium, against a real OpenLDAP slapd started
// here (Debian's, installed by scripts/setup): the sign-in form offers "Sign in to: Corp
// directory"; alice's directory password signs her in as an admin (her group), while this
// server's own accounts know no alice. The server's TLS, injection and refusal checks are
// tested in Rust (crates/sealroom-server/tests/ldap.rs); here plain LDAP on loopback, which the
// directory's settings allow for loopback only.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, freePort, launchBrowser, newPage, startServer } from './support.mjs';

const SUFFIX = 'dc=sealroom,dc=test';
const ROOT_PASSWORD = 'root-password-of-the-test-directory';
const SERVICE_PASSWORD = 'service-password';
const ALICE_PASSWORD = 'alice-directory-password';
let dir;
let slapd;
let server;
let browser;

const slapdConf = (d) => `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ${d}/slapd.pid
database mdb
suffix "${SUFFIX}"
rootdn "cn=admin,${SUFFIX}"
rootpw ${ROOT_PASSWORD}
directory ${d}/db
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
`;

// alice, and the admins group after her (the memberof overlay fills her memberOf then).
const seed = `dn: ${SUFFIX}
objectClass: dcObject
objectClass: organization
o: Sealroom test
dc: sealroom

dn: ou=people,${SUFFIX}
objectClass: organizationalUnit
ou: people

dn: ou=groups,${SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: cn=sealroom,${SUFFIX}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: sealroom
userPassword: ${SERVICE_PASSWORD}

dn: uid=alice,ou=people,${SUFFIX}
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Test
userPassword: ${ALICE_PASSWORD}

dn: cn=admins,ou=groups,${SUFFIX}
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,${SUFFIX}
`;

function listening(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

before(async () => {
  dir = mkdtempSync(pathJoin(tmpdir(), 'sealroom-slapd-'));
  mkdirSync(pathJoin(dir, 'db'));
  writeFileSync(pathJoin(dir, 'slapd.conf'), slapdConf(dir));
  writeFileSync(pathJoin(dir, 'seed.ldif'), seed);
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  // `-d 0`: in the foreground, so this process owns it and stops it.
  slapd = spawn('/usr/sbin/slapd', ['-f', pathJoin(dir, 'slapd.conf'), '-h', `${url}/`, '-d', '0'], { stdio: 'ignore' });
  await eventually('slapd listening', () => listening(port), { timeout: 20000, interval: 50 });
  const seeded = spawnSync('ldapadd', ['-x', '-H', url, '-D', `cn=admin,${SUFFIX}`, '-w', ROOT_PASSWORD, '-f', pathJoin(dir, 'seed.ldif')], { encoding: 'utf8' });
  assert.equal(seeded.status, 0, `seeding failed: ${seeded.stderr}`);
  server = await startServer([], {
    config: [
      '[[ldap]]', 'name = "corp"', 'label = "Corp directory"', `url = "${url}"`, 'allow_plain_on_loopback = true',
      `bind_dn = "cn=sealroom,${SUFFIX}"`, `bind_password = "${SERVICE_PASSWORD}"`, `user_base = "ou=people,${SUFFIX}"`,
      `roles = { "cn=admins,ou=groups,${SUFFIX}" = "admin" }`, '',
    ].join('\n'),
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  slapd?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("signing in with a directory's password", { timeout: 60000 }, async () => {
  const page = await newPage(browser, 'Alice');
  await page.goto(server.url);
  await page.getByTestId('sign-in-button').click();
  const directory = page.getByTestId('sign-in-directory');
  await directory.waitFor();
  await page.getByTestId('sign-in-username').fill('alice');
  await page.getByTestId('sign-in-password').fill(ALICE_PASSWORD);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('sign-in-error').filter({ hasText: 'wrong' }).waitFor();

  await directory.selectOption({ label: 'Corp directory' });
  await page.getByTestId('sign-in-password').fill(ALICE_PASSWORD);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('signed-in-as').filter({ hasText: 'alice' }).waitFor();
  const accounts = await page.evaluate(async () => (await fetch('/api/admin/accounts')).json());
  assert.deepEqual(accounts.map((a) => [a.username, a.role]), [['alice', 'admin']], 'an admin, from her group');
});
