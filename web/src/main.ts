// Entry point: loads the e2ee core (wasm) and routes: `/` is the home page, `/<room-name>` the
// pre-join screen and then the meeting; `/<room-name>#k=<secret>` (a room link) joins with the
// link's secret, which the fragment keeps from the server; `/<room-name>#host=<key>` (a host
// link) joins with the room's moderator key.

import init from 'sealroom-wasm';
import { isModeratorKey, isValidRoomName, linkSecretIn } from './protocol';
import { renderHome } from './ui/home';
import { renderAdmin } from './ui/admin';
import { renderSecurity } from './ui/security';
import { renderInvite } from './ui/invite';
import { currentSession } from './account';
import { renderPrejoin } from './ui/prejoin';
import { renderMeeting } from './ui/meeting-view';
import { h } from './ui/dom';
import { Meeting } from './meeting';
import { transformMode } from './media';
import { wasmModuleRequest } from './wasm-module';

const root = document.getElementById('app') as HTMLElement;

export function navigate(path: string): void {
  history.pushState(null, '', path);
  void route();
}

/** Takes a host link's key out of the address as the page loads: read once, then removed from
 *  the address bar (and so from this history entry), so it is neither left on screen nor
 *  copied on with the meeting link; the room link's `k=` stays. `malformed`: a `host=` part
 *  that holds no key. */
function takeHostKey(): string | 'malformed' | null {
  const parts = location.hash.slice(1).split('&');
  const host = parts.find((part) => part.startsWith('host='));
  if (host === undefined) return null;
  const rest = parts.filter((part) => part !== host).join('&');
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  const key = host.slice('host='.length).toLowerCase();
  return isModeratorKey(key) ? key : 'malformed';
}

/** The administration console's address (without its leading slash). */
const ADMIN_PATH = 'org/admin';

/** The account's sign-in security page (second factors); a slash keeps it off room names. */
const ACCOUNT_PATH = 'account/security';

/** Where an invitation link leads (its token in the fragment). */
const INVITE_PATH = 'account/invite';

/** The host link's key, for the first route only. */
let hostLinkKey = takeHostKey();

async function route(): Promise<void> {
  const hostLink = hostLinkKey;
  hostLinkKey = null;
  let hostKey = hostLink === 'malformed' ? null : hostLink;
  const name = decodeURIComponent(location.pathname.replace(/^\/+|\/+$/g, ''));
  if (name === ACCOUNT_PATH) {
    renderSecurity(root, () => navigate('/'));
    return;
  }
  if (name === INVITE_PATH) {
    renderInvite(root, () => navigate('/'));
    return;
  }
  // A session that may only enrol a second factor can do nothing else: to the account page.
  const session = await currentSession();
  if (session.signedIn && session.enrolmentRequired) {
    navigate(`/${ACCOUNT_PATH}`);
    return;
  }
  if (!name) {
    document.title = 'Sealroom — private video meetings';
    renderHome(root, navigate);
    return;
  }
  // Not a room: room names have no slash.
  if (name === ADMIN_PATH) {
    renderAdmin(root, () => navigate('/'));
    return;
  }
  if (!isValidRoomName(name)) {
    renderHome(root, navigate, `"${name}" is not a room name. Room names use a–z, 0–9 and dashes.`);
    return;
  }
  document.title = `${name} — Sealroom`;
  if (!transformMode()) {
    root.replaceChildren(h('main', { class: 'center-card' }, h('div', { class: 'card' },
      h('h1', {}, 'This browser cannot join securely'),
      h('p', {}, 'Sealroom encrypts every video and audio frame in your browser before it leaves your device. This browser lacks the WebRTC Encoded Transform API that needs, so joining is blocked rather than sending unprotected media. Please use a current Chrome, Edge, Firefox or Safari.'))));
    return;
  }
  const meeting = await renderPrejoin(root, name, { hostLink: hostLink === 'malformed' ? 'malformed' : hostKey ? 'valid' : null }, async (choice) => {
    // Read at joining: the address keeps the room link's secret, for a reload and for copying.
    const linkSecret = linkSecretIn(location.hash.slice(1));
    const meeting = new Meeting(name, choice.displayName, { audio: choice.audio, video: choice.video }, choice.password, hostKey, linkSecret);
    if (choice.audio) choice.audio.enabled = !choice.micMuted;
    meeting.micMuted = choice.micMuted || !choice.audio;
    meeting.cameraOff = choice.cameraOff || !choice.video;
    const refusal = await meeting.start();
    // A refused host link is not tried again: the next attempt joins like anyone.
    if (refusal?.code === 'host_link_refused') hostKey = null;
    return refusal ? { ok: false, refusal } : { ok: true, value: meeting };
  });
  renderMeeting(root, meeting, () => navigate('/'));
}

window.addEventListener('popstate', () => void route());

async function main(): Promise<void> {
  try {
    await init({ module_or_path: wasmModuleRequest('/sealroom_wasm_bg.wasm') });
  } catch (e) {
    root.replaceChildren(h('main', { class: 'center-card' }, h('div', { class: 'card' }, h('h1', {}, 'Sealroom could not start'), h('p', {}, `The encryption module failed to load: ${String(e)}`))));
    return;
  }
  await route();
}

void main();
