// The e2ee core as the browser sees it: web/pkg (built by `cargo run --release --locked -p
// sealroom-web-build`) loaded in Node, driven through the same API the page and worker use.
// Run: node --test web/tests/wasm.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { wasmCore } from './support.mjs';

const { Device, Keyring, generateRoomName } = await wasmCore();

/** Throws unless `fn` throws an Error whose message starts with `code:` and whose .code is it. */
function assertThrowsCode(fn, code) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof Error, `not an Error: ${error}`);
    assert.match(error.message, new RegExp(`^${code}: `));
    assert.equal(error.code, code);
    return true;
  });
}

/** Alice creates a group and adds Bob through his key package and the Welcome. */
function twoMemberGroup() {
  const alice = new Device('alice');
  const bob = new Device('bob');
  const aliceGroup = alice.createGroup(new Uint8Array());
  const outgoing = aliceGroup.commit([bob.keyPackage()]);
  assert.equal(outgoing.epoch, 0n);
  assert.ok(outgoing.commit instanceof Uint8Array && outgoing.commit.length > 0);
  assert.ok(outgoing.welcome instanceof Uint8Array && outgoing.welcome.length > 0);
  assert.equal(aliceGroup.hasPendingCommit(), true);
  const change = aliceGroup.mergePendingCommit();
  const bobGroup = bob.joinGroup(outgoing.welcome);
  return { alice, bob, aliceGroup, bobGroup, change };
}

test('two devices form a group and agree on code, roster and media key', () => {
  const { alice, bob, aliceGroup, bobGroup, change } = twoMemberGroup();
  assert.equal(change.epoch, 1n);
  assert.equal(change.committer, 0);
  assert.equal(change.removedUs, false);
  assert.deepEqual(change.removed, []);
  assert.deepEqual(
    change.added.map((m) => [m.leaf, m.name, m.fingerprint]),
    [[1, 'bob', bob.fingerprint()]],
  );
  assert.equal(aliceGroup.hasPendingCommit(), false);
  assert.equal(aliceGroup.epoch(), 1n);
  assert.equal(bobGroup.epoch(), 1n);
  assert.equal(aliceGroup.ownLeafIndex(), 0);
  assert.equal(bobGroup.ownLeafIndex(), 1);
  assert.equal(bobGroup.isRemoved(), false);

  const roster = bobGroup.roster();
  assert.deepEqual(roster, aliceGroup.roster());
  assert.deepEqual(roster, [
    { leaf: 0, name: 'alice', fingerprint: alice.fingerprint(), orgIdentity: null, orgBinding: 'none' },
    { leaf: 1, name: 'bob', fingerprint: bob.fingerprint(), orgIdentity: null, orgBinding: 'none' },
  ]);
  assert.match(alice.fingerprint(), /^[0-9a-f]{4}( [0-9a-f]{4}){7}$/);

  const code = aliceGroup.securityCode();
  assert.deepEqual(bobGroup.securityCode(), code);
  assert.match(code.digits, /^\d{5}( \d{5}){7}$/);
  assert.equal(code.words.length, 12);
  assert.ok(code.words.every((word) => /^[a-z]{3,8}$/.test(word)), code.words.join(' '));

  const key = aliceGroup.sframeBaseKey();
  assert.ok(key instanceof Uint8Array);
  assert.equal(key.length, 16);
  assert.deepEqual(bobGroup.sframeBaseKey(), key);
  assert.ok(aliceGroup.groupInfo().length > 0);
});

test('application messages round trip with their kind as authenticated data', () => {
  const { aliceGroup, bobGroup } = twoMemberGroup();
  const text = new TextEncoder().encode('hello bob');
  const label = new TextEncoder().encode('sealroom/chat');
  const sealed = aliceGroup.encryptApplication(label, text);
  assert.ok(!Buffer.from(sealed).includes(Buffer.from('hello bob')));
  // The kind travels in the clear, for the server to check against the room's permissions.
  assert.ok(Buffer.from(sealed).includes(Buffer.from('sealroom/chat')));
  const incoming = bobGroup.process(sealed);
  assert.equal(incoming.kind, 'application');
  assert.equal(incoming.sender, 0);
  assert.deepEqual(incoming.data, text);
  assert.deepEqual(incoming.authenticatedData, label);
});

test('a key package names its device by the fingerprint the roster shows', () => {
  const alice = new Device('Alice');
  assert.equal(Device.keyPackageFingerprint(alice.keyPackage()), alice.fingerprint());
  assertThrowsCode(() => Device.keyPackageFingerprint(new Uint8Array([1, 2, 3])), 'malformed');
});

test("a commit from one member moves the other to a new epoch, code and key", () => {
  const { aliceGroup, bobGroup } = twoMemberGroup();
  const code = aliceGroup.securityCode();
  const key = aliceGroup.sframeBaseKey();

  const update = bobGroup.commit([]);
  assert.equal(update.epoch, 1n);
  assert.equal(update.welcome, undefined);
  assert.ok(!('welcome' in update));
  assertThrowsCode(() => bobGroup.commit([]), 'commit_pending');
  bobGroup.mergePendingCommit();

  const incoming = aliceGroup.process(update.commit);
  assert.equal(incoming.kind, 'commit');
  assert.equal(incoming.change.epoch, 2n);
  assert.equal(incoming.change.committer, 1);
  assert.deepEqual(incoming.change.added, []);
  assert.deepEqual(incoming.change.removed, []);

  const newCode = aliceGroup.securityCode();
  assert.notDeepEqual(newCode, code);
  assert.deepEqual(bobGroup.securityCode(), newCode);
  assert.notDeepEqual(aliceGroup.sframeBaseKey(), key);
  assert.deepEqual(bobGroup.sframeBaseKey(), aliceGroup.sframeBaseKey());
});

test('malformed input and wrong arguments throw with a code', () => {
  const { aliceGroup } = twoMemberGroup();
  assertThrowsCode(() => aliceGroup.process(new Uint8Array([1, 2, 3])), 'malformed');
  assertThrowsCode(() => aliceGroup.commit(['not bytes']), 'invalid_argument');
  assertThrowsCode(() => aliceGroup.discardPendingCommit(), 'no_pending_commit');
  assertThrowsCode(() => new Device(''), 'invalid_credential_name');
  assertThrowsCode(() => new Device('carol').joinGroup(new Uint8Array([0, 1])), 'malformed');
});

test('keyring: protect on one member, unprotect on another', () => {
  const { aliceGroup, bobGroup } = twoMemberGroup();
  const alice = new Keyring();
  const bob = new Keyring();
  alice.installEpoch(0, aliceGroup.epoch(), aliceGroup.sframeBaseKey(), aliceGroup.ownLeafIndex());
  bob.installEpoch(0, bobGroup.epoch(), bobGroup.sframeBaseKey(), bobGroup.ownLeafIndex());
  assert.equal(alice.currentEpoch(), 1n);

  // A VP8 key frame: 10 clear bytes stay readable, the rest is encrypted.
  const frame = new Uint8Array(200).map((_, i) => i);
  const wire = alice.protect(10, frame);
  assert.deepEqual(wire.subarray(0, 10), frame.subarray(0, 10));
  assert.ok(!Buffer.from(wire).includes(Buffer.from(frame.subarray(10, 40))));
  const opened = bob.unprotect(5, wire);
  assert.equal(opened.senderIndex, 0);
  assert.equal(opened.epoch, 1n);
  assert.equal(opened.clearPrefixLen, 10);
  assert.deepEqual(opened.payload, frame);

  // Opus: whole frame.
  const opus = new Uint8Array([0xfc, 1, 2, 3, 4]);
  assert.deepEqual(bob.unprotect(6, alice.protect(0, opus)).payload, opus);

  assertThrowsCode(() => bob.unprotect(7, wire), 'replayed');
  assertThrowsCode(() => alice.unprotect(7, alice.protect(0, opus)), 'reflected_frame');
  assertThrowsCode(() => alice.installEpoch(8, 1n, aliceGroup.sframeBaseKey(), 0), 'stale_epoch');
  assertThrowsCode(() => alice.protect(201, frame), 'clear_prefix_too_long');
  assertThrowsCode(() => bob.unprotect(-1, wire), 'invalid_argument');
});

test('a tampered frame throws with a code and yields nothing', () => {
  const key = new Uint8Array(16).fill(7);
  const alice = new Keyring();
  const bob = new Keyring();
  alice.installEpoch(0, 3n, key, 0);
  bob.installEpoch(0, 3n, key, 1);
  const frame = new TextEncoder().encode('a whole encoded frame');

  // Clear prefix, header, ciphertext, tag and the clear-prefix-length trailer.
  for (const position of [0, 2, 3, 10, -2, -1]) {
    const wire = alice.protect(3, frame);
    const index = position < 0 ? wire.length + position : position;
    wire[index] ^= 0x01;
    assert.throws(() => bob.unprotect(1, wire), (error) => {
      assert.match(error.message, /^[a-z_]+: /);
      return true;
    });
  }
  const wire = alice.protect(0, frame);
  wire[wire.length - 5] ^= 0x80;
  assertThrowsCode(() => bob.unprotect(1, wire), 'authentication_failed');
  assertThrowsCode(() => bob.unprotect(1, new Uint8Array(0)), 'missing_trailer');

  const stranger = new Keyring();
  stranger.installEpoch(0, 9n, key, 4);
  assertThrowsCode(() => bob.unprotect(1, stranger.protect(0, frame)), 'unknown_kid');
});

test('without an epoch nothing is protected', () => {
  const keyring = new Keyring();
  assert.equal(keyring.currentEpoch(), undefined);
  assertThrowsCode(() => keyring.protect(0, new Uint8Array([1, 2, 3])), 'no_epoch');
  assertThrowsCode(() => keyring.installEpoch(0, 1n, new Uint8Array(32), 0), 'key_length');
});

test('generateRoomName gives eight distinct-looking words within a room name', () => {
  const first = generateRoomName();
  const second = generateRoomName();
  for (const name of [first, second]) {
    assert.match(name, /^[a-z]+(-[a-z]+){7}$/);
    assert.equal(name.split('-').length, 8);
    assert.ok(name.length <= 64, name);
  }
  assert.notEqual(first, second);
});

// The frame-transform worker as bundled by the web build (web/dist/e2ee-worker.js, with the wasm
// copied next to it), run in this process with a stand-in worker scope: two instances play the
// sender's and the receiver's worker. Skipped until the web bundle exists.
const workerBundle = new URL('../dist/e2ee-worker.js', import.meta.url);
test('worker protects outgoing and unprotects incoming frames, fails closed', {
  skip: !fs.existsSync(workerBundle) && 'web/dist/e2ee-worker.js not built',
}, async (t) => {
  const posted = [];
  const intervals = [];
  const realSetInterval = globalThis.setInterval;
  Object.assign(globalThis, {
    location: { href: workerBundle.href },
    postMessage: (message) => posted.push(structuredClone(message)),
    setInterval: (...args) => { const id = realSetInterval(...args); intervals.push(id); return id; },
    // As the browser does, hands over the module only if it matches the request's integrity
    // hash, which the worker must ask with.
    fetch: async (request) => {
      const module = fs.readFileSync(new URL(request.url));
      assert.equal(request.integrity, `sha384-${createHash('sha384').update(module).digest('base64')}`);
      return new Response(module, { headers: { 'content-type': 'application/wasm' } });
    },
  });
  t.after(() => {
    intervals.forEach(clearInterval);
    globalThis.setInterval = realSetInterval;
  });
  const loadWorker = async (tag) => {
    const bundle = new URL(workerBundle);
    bundle.search = tag;
    await import(bundle.href);
    const handlers = { onmessage: globalThis.onmessage, onrtctransform: globalThis.onrtctransform };
    globalThis.onmessage = null;
    globalThis.onrtctransform = null;
    return handlers;
  };
  const alice = await loadWorker('alice');
  const bob = await loadWorker('bob');
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let i = 0; i < 100 && posted.filter((m) => m.type === 'ready').length < 2; i++) await sleep(20);
  assert.equal(posted.filter((m) => m.type === 'ready').length, 2);

  function transform(worker, options, viaMessage = false) {
    let push;
    const out = [];
    const readable = new ReadableStream({ start(controller) { push = (f) => controller.enqueue(f); } });
    const writable = new WritableStream({ write(frame) { out.push(frame); } });
    if (viaMessage) worker.onmessage({ data: { type: 'streams', ...options, readable, writable } });
    else worker.onrtctransform({ transformer: { readable, writable, options } });
    return { push: (f) => push(f), out };
  }
  const videoFrame = (bytes, type, mimeType = 'video/VP8') => ({
    data: new Uint8Array(bytes).buffer, type, getMetadata: () => ({ mimeType }),
  });
  const bytesOf = (frame) => [...new Uint8Array(frame.data)];

  const camera = transform(alice, { side: 'send', kind: 'video', label: 'camera' });
  const microphone = transform(alice, { side: 'send', kind: 'audio', label: 'microphone' }, true);
  const remoteCamera = transform(bob, { side: 'receive', kind: 'video', label: 'alice-camera' });
  const remoteMicrophone = transform(bob, { side: 'receive', kind: 'audio', label: 'alice-mic' });
  // A track the SFU says is Carol's (leaf 2): Alice's frames on it are not shown.
  const relabelled = transform(bob, { side: 'receive', kind: 'video', label: 'carol-camera' });
  for (const [label, leaf] of [['alice-camera', 0], ['alice-mic', 0], ['carol-camera', 2]]) {
    bob.onmessage({ data: { type: 'expect', label, leaf } });
  }
  const original = Array.from({ length: 100 }, (_, i) => i);

  camera.push(videoFrame(original, 'key'));
  await sleep(20);
  assert.equal(camera.out.length, 0, 'nothing is sent before an epoch is installed');

  const baseKey = new Uint8Array(16).fill(3);
  alice.onmessage({ data: { type: 'epoch', epoch: 1n, baseKey: baseKey.slice(), ownLeaf: 0 } });
  bob.onmessage({ data: { type: 'epoch', epoch: 1n, baseKey: baseKey.slice(), ownLeaf: 1 } });
  camera.push(videoFrame(original, 'key'));
  camera.push(videoFrame(original, 'delta'));
  camera.push(videoFrame(original, 'delta', 'video/VP9'));
  microphone.push({ data: new Uint8Array([9, 8, 7, 6]).buffer });
  await sleep(20);
  assert.equal(camera.out.length, 3);
  const [key, delta, vp9] = camera.out.map(bytesOf);
  assert.deepEqual(key.slice(0, 10), original.slice(0, 10), 'VP8 key frame: 10 clear bytes');
  assert.notDeepEqual(key.slice(10, 30), original.slice(10, 30));
  assert.equal(key.at(-1), 10);
  assert.deepEqual(delta.slice(0, 3), original.slice(0, 3), 'VP8 delta frame: 3 clear bytes');
  assert.equal(delta.at(-1), 3);
  assert.equal(vp9.at(-1), 0, 'other codecs: whole frame');
  assert.equal(bytesOf(microphone.out[0]).at(-1), 0, 'Opus: whole frame');

  const tampered = new Uint8Array(camera.out[0].data.slice(0));
  tampered[40] ^= 1;
  remoteCamera.push({ data: tampered.buffer, type: 'key' });
  for (const frame of camera.out) remoteCamera.push({ data: frame.data.slice(0), type: 'key' });
  remoteCamera.push({ data: camera.out[0].data.slice(0), type: 'key' });
  remoteMicrophone.push({ data: microphone.out[0].data });
  await sleep(20);
  assert.equal(remoteCamera.out.length, 3, 'the tampered and the replayed frame are dropped');
  camera.push(videoFrame(original, 'delta'));
  await sleep(20);
  relabelled.push({ data: camera.out[3].data.slice(0), type: 'delta' });
  await sleep(20);
  assert.equal(relabelled.out.length, 0, 'a frame of another sender than the track\'s is dropped');
  for (const frame of remoteCamera.out) assert.deepEqual(bytesOf(frame), original);
  assert.deepEqual(bytesOf(remoteMicrophone.out[0]), [9, 8, 7, 6]);

  await sleep(600);
  const stats = posted.filter((m) => m.type === 'stats');
  const sender = stats.filter((s) => s.sent.video > 0).at(-1);
  const receiver = stats.filter((s) => Object.keys(s.decrypted).length > 0).at(-1);
  assert.deepEqual(sender.sent, { audio: 1, video: 4 });
  assert.equal(sender.droppedNoKey, 1);
  assert.equal(sender.epoch, 1);
  assert.deepEqual(receiver.decrypted, { 0: { audio: 1, video: 3 } });
  assert.deepEqual(receiver.failures, { authentication_failed: 1, replayed: 1, unexpected_sender: 1 });
  assert.ok(Math.abs(receiver.firstDecryptedAtMs - Date.now()) < 60_000);
  assert.deepEqual(posted.filter((m) => m.type === 'error'), []);
});
