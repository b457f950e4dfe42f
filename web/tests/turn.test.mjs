// TURN: a server with relays configured hands each participant short-lived credentials once it
// is let into the meeting, and the page's PeerConnection uses them for its first offer. The
// relay here is unreachable: the direct path still works.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join, launchBrowser, newPage, startServer, state, waitEncrypted } from './support.mjs';

const RELAY = 'turn:127.0.0.1:9?transport=udp';
let server;
let browser;
before(async () => {
  server = await startServer([], { config: `[turn]\nurls = ["${RELAY}"]\nshared_secret = "browser-test-shared-secret"\n` });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

test('the PeerConnection is made with the TURN relays the server gives', { timeout: 30000 }, async () => {
  const page = await newPage(browser, 'alice');
  await join(page, server.url, 'turn-test', 'Alice');
  await waitEncrypted(page);
  const { participantId } = await state(page);
  const servers = await page.evaluate(() => window.sealroomDebug.pc().getConfiguration().iceServers);
  assert.equal(servers.length, 1);
  assert.deepEqual(servers[0].urls, [RELAY]);
  assert.match(servers[0].username, new RegExp(`^\\d+:${participantId}$`), 'expiry and participant (TURN REST API)');
  assert.ok(servers[0].credential.length > 0);
});
