// A page that connects to the room but never holds the group keys (it never uploads a key
// package, and applies no frame transform) gets a media connection to the SFU but not one
// packet of the members' media: the SFU forwards only to members of the MLS group. The members
// are shown that it is not in the encrypted group.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, decodesVideoFrom, eventually, join, launchBrowser, newPage, startServer, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

/** Runs in a blank same-origin page: the signalling protocol by hand, receive only, no transforms. */
async function eavesdrop(room) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  const videos = [];
  pc.ontrack = (event) => {
    if (event.track.kind !== 'video') return;
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.srcObject = new MediaStream([event.track]);
    document.body.appendChild(video);
    videos.push(video);
  };
  const ws = new WebSocket(`ws://${location.host}/ws`);
  const send = (m) => ws.send(JSON.stringify({ v: 1, ...m }));
  let chain = Promise.resolve();
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    chain = chain.then(async () => {
      if (m.type === 'sdp_answer') await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      if (m.type === 'sdp_offer') {
        await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        send({ type: 'sdp_answer', sdp: answer.sdp });
      }
      // 'joined' with await_welcome: deliberately no key package.
    });
  };
  await new Promise((resolve) => { ws.onopen = resolve; });
  // She claims the room link, so the server admits her to the meeting rather than the lobby.
  send({ type: 'join', room, display_name: 'eve', holds_link: true });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: 'sdp_offer', sdp: offer.sdp });
  window.eve = { pc, videos };
}

function eveStats(page) {
  return page.evaluate(async () => {
    const out = { video: [], audio: [] };
    (await window.eve.pc.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') out.video.push({ packets: s.packetsReceived, bytes: s.bytesReceived, framesReceived: s.framesReceived ?? 0, framesDecoded: s.framesDecoded ?? 0, keyFramesDecoded: s.keyFramesDecoded ?? 0, width: s.frameWidth ?? 0 });
      else out.audio.push({ packets: s.packetsReceived, energy: s.totalAudioEnergy ?? 0, concealed: s.concealedSamples ?? 0, samples: s.totalSamplesReceived ?? 0 });
    });
    out.rendered = window.eve.videos.map((v) => v.videoWidth);
    return out;
  });
}

test('a page outside the encrypted group receives no media at all', { timeout: 90000 }, async () => {
  const room = 'eavesdropper-test';
  const alice = await newPage(browser, 'alice');
  const bob = await newPage(browser, 'bob');
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);

  const eve = await newPage(browser, 'eve');
  await eve.goto(`${server.url}/healthz`);
  await eve.evaluate(eavesdrop, room);

  // Eve is in the room as the server sees it, with a working media connection to the SFU...
  await eventually('eve connects to the SFU', async () => (await eve.evaluate(() => window.eve.pc.connectionState)) === 'connected', { timeout: 30000 });
  // ...and the members see her, flagged as outside the encrypted group.
  await eventually('alice flags eve', async () => {
    const badge = await alice.$eval('[data-testid="participant-tile"][data-name="eve"] .tile-badge', (el) => el.textContent).catch(() => null);
    return badge === 'Not in the encrypted group';
  });
  const roster = await alice.evaluate(() => window.sealroomDebug.state().roster.map((m) => m.name).sort());
  assert.deepEqual(roster, ['Alice', 'Bob']);

  // The SFU forwards media only to members of the MLS group: not a packet of Alice's or Bob's
  // audio or video (nor the audio level of who speaks) reaches her while they talk.
  await decodesVideoFrom(alice, 'Bob');
  await eve.waitForTimeout(3000);
  const seen = await eveStats(eve);
  console.log('eve after 3 s connected:', JSON.stringify(seen));
  const packets = [...seen.video, ...seen.audio].reduce((sum, s) => sum + (s.packets ?? 0), 0);
  assert.equal(packets, 0, `eve received media: ${JSON.stringify(seen)}`);
  await eve.screenshot({ path: pathJoin(artifactsDir, 'eavesdropper.png') });
});
