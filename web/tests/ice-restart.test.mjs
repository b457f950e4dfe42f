// ICE restart: both browsers reach the SFU through a UDP relay the test controls (the server
// advertises the relay's address as its media candidate). The relay goes silent for longer than
// ICE keeps a path, then comes back. Each page restarts ICE — a new offer with new credentials,
// answered by the SFU with new ones of its own — and media flows again in the same session: the
// same participant, MLS member and epoch, no rejoin.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { eventually, join, launchBrowser, newPage, remoteMedia, startServer, state, waitEncrypted } from './support.mjs';

const RELAY_IP = '127.0.0.2';

/** A UDP port free on loopback now. */
async function freeUdpPort() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}

/** Listens on RELAY_IP:port and passes datagrams to and from the SFU on 127.0.0.1:port, one
 *  upstream socket per client address; while `cut`, nothing passes either way. */
async function startRelay(port) {
  const front = dgram.createSocket('udp4');
  const upstreams = new Map();
  const relay = {
    cut: false,
    relayed: 0,
    close() {
      front.close();
      for (const upstream of upstreams.values()) upstream.close();
    },
  };
  front.on('message', (datagram, from) => {
    if (relay.cut) return;
    const key = `${from.address}:${from.port}`;
    let upstream = upstreams.get(key);
    if (!upstream) {
      upstream = dgram.createSocket('udp4');
      upstream.bind(0, '127.0.0.1');
      upstream.on('message', (back) => { if (!relay.cut) front.send(back, from.port, from.address); });
      upstreams.set(key, upstream);
    }
    relay.relayed++;
    upstream.send(datagram, port, '127.0.0.1');
  });
  await new Promise((resolve) => front.bind(port, RELAY_IP, resolve));
  return relay;
}

let server;
let relay;
let browser;
before(async () => {
  const port = await freeUdpPort();
  server = await startServer(['--media-public-ip', RELAY_IP, '--media-threads', '1'], { mediaUdp: `127.0.0.1:${port}` });
  relay = await startRelay(port);
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); relay?.close(); await server?.stop(); });

/** Video frames each page decoded from the other so far. */
async function framesDecoded(pages) {
  return Promise.all(pages.map(async (page) => (await remoteMedia(page))[0]?.video?.framesDecoded ?? 0));
}

/** The SFU's ICE username fragment in a page's remote description. */
function sfuUfrag(page) {
  return page.evaluate(() => /a=ice-ufrag:(\S+)/.exec(window.sealroomDebug.pc().remoteDescription.sdp)?.[1]);
}

test('after the media path is lost, ICE restarts and media flows again in the same session', { timeout: 90000 }, async () => {
  const alice = await newPage(browser, 'alice');
  const bob = await newPage(browser, 'bob');
  await join(alice, server.url, 'ice-restart-test', 'Alice');
  await waitEncrypted(alice);
  await join(bob, server.url, 'ice-restart-test', 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  const pages = [alice, bob];
  await eventually('video both ways', async () => (await framesDecoded(pages)).every((n) => n > 30));
  assert.ok(relay.relayed > 0, 'media goes through the relay');
  const before = await Promise.all(pages.map(state));
  const ufragsBefore = await Promise.all(pages.map(sfuUfrag));

  relay.cut = true;
  const cutAt = Date.now();
  await eventually('both pages restart ICE', async () => (await Promise.all(pages.map(state))).every((s) => s.iceRestarts >= 1), { timeout: 30000 });
  const restartedAfterMs = Date.now() - cutAt;
  relay.cut = false;
  const restoredAt = Date.now();
  const frames = await framesDecoded(pages);
  await eventually('video both ways again', async () => (await framesDecoded(pages)).every((n, i) => n > frames[i] + 30), { timeout: 30000 });
  console.log(`ICE restarted ${restartedAfterMs} ms into the cut; 30 more video frames each way ${Date.now() - restoredAt} ms after the path came back`);

  const after = await Promise.all(pages.map(state));
  for (const [i, name] of ['alice', 'bob'].entries()) {
    assert.equal(after[i].participantId, before[i].participantId, `${name}: the same participant`);
    assert.equal(after[i].ownLeaf, before[i].ownLeaf, `${name}: the same MLS member`);
    assert.equal(after[i].epoch, before[i].epoch, `${name}: no rejoin, no new epoch`);
    assert.equal(after[i].resumes, before[i].resumes, `${name}: signalling never dropped`);
    assert.deepEqual(after[i].errors, [], `${name}: no error`);
  }
  const ufragsAfter = await Promise.all(pages.map(sfuUfrag));
  for (const i of [0, 1]) assert.notEqual(ufragsAfter[i], ufragsBefore[i], 'the SFU answered with new ICE credentials');
});
