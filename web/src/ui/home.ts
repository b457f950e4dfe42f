// The home page: start a room with a generated, hard-to-guess name, or join one by name; sign
// in to an account of the server (a password, or an identity provider's "Sign in with …"
// buttons), or out.

import { Participant, generateRoomName } from 'sealroom-wasm';
import { isValidRoomName, linkSecretIn } from '../protocol';
import { identityProviders, providerSignInUrl } from '../account';
import { accountControl } from './account';
import { h, icon } from './dom';

export function renderHome(root: HTMLElement, navigate: (path: string) => void, error?: string): void {
  // The server sends a refused provider sign-in back here; the reason is in its audit log.
  if (new URLSearchParams(window.location.search).get('sign_in') === 'failed') {
    error ??= 'Signing in with the identity provider did not work. Try again.';
    history.replaceState(null, '', '/');
  }
  const input = h('input', {
    id: 'room-name', type: 'text', 'data-testid': 'room-name-input', placeholder: 'e.g. amber-orbit-…',
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', 'aria-describedby': 'room-hint',
  });
  const message = h('p', { class: 'form-error', role: 'alert', id: 'room-error' }, error ?? '');
  const join = (event: Event) => {
    event.preventDefault();
    // A pasted meeting link keeps its secret (the fragment's `k=`), which is case-sensitive.
    const [address, fragment = ''] = input.value.trim().split('#', 2);
    const name = address.toLowerCase().replace(/\s+/g, '-');
    const fromLink = /\/([a-z0-9-]+)\/?$/.exec(name)?.[1];
    const room = isValidRoomName(name) ? name : fromLink;
    if (!room) {
      message.textContent = 'Enter a room name (a–z, 0–9 and dashes) or paste a meeting link.';
      input.focus();
      return;
    }
    const secret = linkSecretIn(fragment);
    navigate(secret ? `/${room}#k=${secret}` : `/${room}`);
  };
  root.replaceChildren(
    h('div', { class: 'home' },
      h('header', { class: 'home-header' }, brand(), signInArea()),
      h('main', { class: 'home-main' },
        h('section', { class: 'hero' },
          h('h1', {}, 'Video meetings only the people in them can see.'),
          h('p', { class: 'lead' }, 'Every frame of audio and video is encrypted on your device with keys the server never holds. Compare a short security code to know nobody else is listening.'),
          h('div', { class: 'hero-actions' },
            h('button', {
              class: 'btn btn-primary btn-lg', type: 'button', 'data-testid': 'create-room-button',
              onclick: () => navigate(`/${generateRoomName()}#k=${Participant.newLinkSecret()}`),
            }, icon('plus'), 'New meeting'),
            h('form', { class: 'join-form', onsubmit: join, 'aria-label': 'Join a meeting' },
              h('label', { for: 'room-name', class: 'visually-hidden' }, 'Room name or link'),
              input,
              h('button', { class: 'btn btn-secondary btn-lg', type: 'submit', 'data-testid': 'join-room-button' }, 'Join'))),
          h('p', { class: 'hint', id: 'room-hint' }, 'New rooms get an eight-word name that is practically impossible to guess, and a link with a secret the server never sees: whoever has the link is let into the encrypted meeting; whoever only knows the name waits for a moderator.'),
          message),
        h('section', { class: 'features', 'aria-label': 'Why Sealroom' },
          feature('lock', 'End-to-end encrypted', 'MLS group keys and SFrame media encryption. The server relays what it cannot read.'),
          feature('shield', 'Verifiable', 'Everyone sees the same security code exactly when they share the same keys.'),
          feature('people', 'Yours to run', 'One self-hosted binary. No accounts needed to meet.')))));
  if (error) input.focus();
}

/** The account control, and beside it, while signed out, a "Sign in with …" button per
 *  identity provider the server offers. */
function signInArea(): HTMLElement {
  const account = accountControl();
  const providers = h('div', { class: 'hero-actions', 'data-testid': 'sso-buttons', hidden: true });
  const show = () => { providers.hidden = account.dataset.state !== 'signed-out' || !providers.childElementCount; };
  new MutationObserver(show).observe(account, { attributes: true, attributeFilter: ['data-state'] });
  void identityProviders().then((list) => {
    providers.replaceChildren(...list.map((p) => h('a', {
      class: 'btn btn-secondary', href: providerSignInUrl(p.name), 'data-testid': `sso-${p.name}`,
    }, `Sign in with ${p.label}`)));
    show();
  });
  return h('div', { class: 'hero-actions' }, providers, account);
}

export function brand(): HTMLElement {
  return h('a', { class: 'brand', href: '/', 'aria-label': 'Sealroom home' }, h('span', { class: 'brand-mark' }, icon('lock')), h('span', { class: 'brand-name' }, 'Sealroom'));
}

function feature(iconName: 'lock' | 'shield' | 'people', title: string, text: string): HTMLElement {
  return h('div', { class: 'feature' }, h('span', { class: 'feature-icon' }, icon(iconName)), h('h2', {}, title), h('p', {}, text));
}
