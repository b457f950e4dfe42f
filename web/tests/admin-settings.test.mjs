// The organisation's settings in the console, in Chromium: an admin lets only signed-in people
// join, gives new rooms a lobby and moderators-only recording, and sets the shortest room
// password (a value under 8 refused with the server's reason), the largest file and how long
// recordings are kept; a guest is then told on the pre-join screen to sign in, and the admin's
// own new room opens with the lobby on and recording left to moderators. It makes a persistent
// room with a lobby and a password (one shorter than the organisation's 20 characters refused)
// and removes it. A member opening the console is refused the settings.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { closePages, join, launchBrowser, newPage, openPrejoin, startServer, signIn } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
const BIND_PASSWORD = 'the directory service password';
/** A directory the console lists (never asked here: nobody signs in with it). */
const DIRECTORY = `[[ldap]]
name = "staff"
label = "Staff directory"
url = "ldaps://ldap.corp.example"
bind_dn = "cn=sealroom,dc=corp"
bind_password = "${BIND_PASSWORD}"
user_base = "dc=corp"
roles = { "cn=auditors,dc=corp" = "auditor" }
`;
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { adam: { password: PASSWORD, role: 'admin' }, mel: PASSWORD }, config: DIRECTORY });
  browser = await launchBrowser();
});
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

test('an admin sets who may join, what new rooms start with, and the persistent rooms', { timeout: 90000 }, async () => {
  const [admin, guest, member] = await Promise.all(['Adam', 'Gus', 'Mel'].map((name) => newPage(browser, name)));
  await signIn(admin, server.url, 'adam', PASSWORD);
  await admin.getByTestId('admin-link').click();
  // The configured directory, its role mapping, and not its password.
  const directory = admin.locator('[data-testid="provider-row"][data-name="staff"]');
  assert.match(await directory.textContent(), /Staff directory \(LDAP directory, staff\) at ldaps:\/\/ldap\.corp\.example; roles from memberOf: cn=auditors,dc=corp → auditor/);
  assert.equal((await admin.content()).includes(BIND_PASSWORD), false);
  await admin.getByTestId('settings-guests').uncheck();
  await admin.getByTestId('settings-lobby').check();
  await admin.getByTestId('org-permission-recording').selectOption('moderators');
  // A room password shorter than 8 characters is not allowed: the server says why.
  await admin.getByTestId('settings-room-password').fill('4');
  await admin.getByTestId('settings-save').click();
  await admin.getByTestId('settings-status').filter({ hasText: 'room_password_min_chars must be between 8 and 64' }).waitFor();
  await admin.getByTestId('settings-room-password').fill('20');
  await admin.getByTestId('settings-file-size').fill('5');
  await admin.getByTestId('settings-recording-days').fill('7');
  await admin.getByTestId('settings-save').click();
  await admin.getByTestId('settings-status').filter({ hasText: 'Saved' }).waitFor();
  const saved = await admin.evaluate(async () => (await fetch('/api/admin/settings')).json());
  assert.equal(saved.guests_may_join, false);
  assert.equal(saved.new_rooms.lobby, true);
  assert.equal(saved.new_rooms.permissions.recording, 'moderators');
  assert.deepEqual([saved.room_password_min_chars, saved.max_file_bytes, saved.recording_retention_days], [20, 5 * 1024 * 1024, 7]);
  // Untouched fields keep their exact values.
  assert.equal(saved.file_lifetime_secs, 24 * 3600);

  await openPrejoin(guest, server.url, 'members-only', 'Gus');
  await guest.getByTestId('join-button').click();
  await guest.getByTestId('join-error').filter({ hasText: 'only signed-in people join' }).waitFor();

  await join(admin, server.url, 'team-sync', 'Adam');
  await admin.getByTestId('people-button').click();
  await admin.locator('[data-testid="lobby-toggle"][aria-pressed="true"]').waitFor();
  await admin.waitForFunction(() => document.querySelector('[data-testid="permission-recording"]')?.value === 'moderators', null, { timeout: 15000 });

  await admin.goto(`${server.url}/org/admin`);
  await admin.getByTestId('room-name').fill('all-hands');
  await admin.getByTestId('room-lobby').check();
  await admin.getByTestId('room-password').fill('password');
  await admin.getByTestId('room-create').click();
  await admin.getByTestId('rooms-status').filter({ hasText: 'at least 20 characters' }).waitFor();
  await admin.getByTestId('room-password').fill('quarterly planning with coffee');
  await admin.getByTestId('room-create').click();
  const room = admin.locator('[data-testid="room-row"][data-name="all-hands"]');
  assert.match(await room.textContent(), /lobby, password/);
  const kept = await admin.evaluate(async () => (await fetch('/api/admin/rooms')).json());
  assert.deepEqual(kept.map((r) => [r.name, r.settings.lobby, r.password]), [['all-hands', true, true]]);
  await room.getByTestId('room-remove').click();
  await room.waitFor({ state: 'detached' });

  await signIn(member, server.url, 'mel', PASSWORD);
  await member.goto(`${server.url}/org/admin`);
  await member.getByTestId('settings-refused').waitFor();
  assert.equal(await member.getByTestId('settings-form').count(), 0);
});
