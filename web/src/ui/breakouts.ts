// Breakout rooms on screen: the Rooms panel (a moderator opens rooms, sends people or lets them
// choose, sets a timer, broadcasts, reads calls for help and closes them; anyone sees the rooms
// and joins one it may), and the banner that says which room we are in, the time left and the
// latest broadcast, with "Ask for help" and "Back to main room". Everything shown is the MLS
// core's word (names from credentials); texts are only ever text.

import { MAX_BREAKOUT_MINUTES } from '../breakouts';
import type { Meeting } from '../meeting';
import type { BreakoutView } from '../session';
import { h, icon } from './dom';

type Toast = (text: string) => void;

export interface BreakoutControls {
  /** The control bar's button, which opens and closes the panel. */
  button: HTMLButtonElement;
  /** Above the tiles: rooms open, or the room we are in. */
  banner: HTMLElement;
  el: HTMLElement;
  /** `open`: the panel shows. */
  update(open: boolean): void;
}

/** `main`: the main room's meeting, which holds the rooms; `shown`: the meeting on screen (a
 *  breakout room's, or the main one). */
export function breakoutControls(main: Meeting, shown: Meeting, toast: Toast, toggle: () => void): BreakoutControls {
  const button = h('button', { type: 'button', class: 'ctrl', 'data-testid': 'breakouts-button', 'aria-label': 'Show breakout rooms', title: 'Breakout rooms', onclick: toggle },
    icon('door'), h('span', { class: 'ctrl-label' }, 'Rooms'));
  const banner = h('div', { class: 'banner banner-info breakout-banner', role: 'status', 'data-testid': 'breakout-banner', hidden: true });
  const setup = setupForm(main, toast);
  const rooms = h('div', { class: 'breakout-rooms' });
  const moderation = openRoomsControls(main, toast);
  const el = h('div', { class: 'panel-body breakouts' },
    h('p', { class: 'muted small' }, 'Each breakout room is its own end-to-end encrypted group with its own security code and chat. Its key travels inside this meeting’s encryption: the server only learns which rooms exist and who enters them.'),
    setup, rooms, moderation.el);
  let bannerKey = '';
  let roomsKey = '';
  function update(open: boolean): void {
    const plan = main.breakouts.plan;
    const moderates = main.isModerator && main.moderatesGroup;
    button.hidden = !moderates && !plan;
    button.classList.toggle('active', open);
    button.setAttribute('aria-pressed', String(open));
    const key = bannerState(main, shown);
    if (key !== bannerKey) {
      bannerKey = key;
      renderBanner(banner, main, shown, toast);
    }
    updateCountdown(banner, plan);
    if (!open) return;
    setup.hidden = !moderates || plan !== null;
    // Rebuilt only when it changed: a button replaced under the pointer loses its click.
    const shownRooms = JSON.stringify([plan, main.breakouts.current?.index, moderates]);
    if (shownRooms !== roomsKey) {
      roomsKey = shownRooms;
      renderRooms(rooms, main, toast);
    }
    moderation.update(moderates);
  }
  return { button, banner, el, update };
}

// --- the moderator's setup ---

function setupForm(main: Meeting, toast: Toast): HTMLFormElement {
  const count = h('input', { id: 'breakout-count', type: 'number', min: 1, max: 20, value: 2, required: true, 'data-testid': 'breakout-count' });
  const assign = h('input', { type: 'radio', name: 'breakout-mode', value: 'assign', checked: true, 'data-testid': 'breakout-assign' });
  const choose = h('input', { type: 'radio', name: 'breakout-mode', value: 'choose', 'data-testid': 'breakout-choose' });
  const minutes = h('input', { id: 'breakout-minutes', type: 'number', min: 0, max: MAX_BREAKOUT_MINUTES, step: 'any', value: 0, 'data-testid': 'breakout-minutes', 'aria-describedby': 'breakout-minutes-hint' });
  const form = h('form', { class: 'poll-form', 'data-testid': 'breakout-setup' },
    h('h3', {}, 'Open breakout rooms'),
    h('div', { class: 'field' }, h('label', { for: 'breakout-count' }, 'Rooms'), count),
    h('fieldset', { class: 'field' }, h('legend', {}, 'Who goes where'),
      h('label', { class: 'check' }, assign, 'Spread everyone over the rooms'),
      h('label', { class: 'check' }, choose, 'Let people choose')),
    h('div', { class: 'field' }, h('label', { for: 'breakout-minutes' }, 'Call everyone back after (minutes)'), minutes,
      h('p', { class: 'field-hint', id: 'breakout-minutes-hint' }, '0: no timer; you close the rooms yourself.')),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'breakout-open' }, 'Open rooms'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const own = main.epoch?.ownLeaf;
    const members = main.roster.map((m) => m.leaf).filter((leaf) => leaf !== own);
    const refused = main.breakouts.open({ rooms: count.valueAsNumber, members, choose: choose.checked, minutes: minutes.valueAsNumber || 0 });
    if (refused) toast(`The rooms were not opened: ${refused}`);
  });
  return form;
}

// --- the rooms, to join ---

function renderRooms(list: HTMLElement, main: Meeting, toast: Toast): void {
  const plan = main.breakouts.plan;
  const current = main.breakouts.current?.index ?? null;
  if (!plan) { list.replaceChildren(); return; }
  const moderates = main.isModerator && main.moderatesGroup;
  list.replaceChildren(h('h3', {}, `Rooms opened by ${plan.openedBy}`), ...plan.rooms.map((room, index) => {
    const names = plan.assigned.filter(([, r]) => r === index).map(([name]) => name);
    const mayEnter = moderates || plan.choose || plan.ownRoom === index;
    return h('div', { class: 'poll-card', 'data-testid': 'breakout-room', 'data-room': room.room },
      h('strong', {}, room.label),
      h('p', { class: 'muted small' }, names.length ? names.join(', ') : plan.choose ? 'Anyone may join.' : 'Nobody sent here.'),
      current === index ? h('p', { class: 'small' }, 'You are here.')
        : mayEnter ? h('button', { type: 'button', class: 'btn', 'data-testid': 'breakout-join', onclick: () => void enter(main, index, toast) }, `Join ${room.label}`) : null);
  }));
}

async function enter(main: Meeting, index: number, toast: Toast): Promise<void> {
  const refused = await main.breakouts.enter(index);
  if (refused) toast(refused);
}

/** Broadcast, calls for help, close: for the moderators while rooms are open. */
function openRoomsControls(main: Meeting, toast: Toast): { el: HTMLElement; update(moderates: boolean): void } {
  const text = h('textarea', { id: 'breakout-broadcast', rows: 2, maxlength: 1000, 'data-testid': 'breakout-broadcast' });
  const send = h('button', { type: 'submit', class: 'btn', 'data-testid': 'breakout-broadcast-send' }, 'Send to all rooms');
  const broadcast = h('form', { class: 'poll-form' }, h('div', { class: 'field' }, h('label', { for: 'breakout-broadcast' }, 'Message to every room'), text), send);
  broadcast.addEventListener('submit', (event) => {
    event.preventDefault();
    const refused = main.breakouts.broadcast(text.value);
    if (refused) toast(`Not sent: ${refused}`);
    else text.value = '';
  });
  const help = h('ul', { class: 'breakout-help', 'data-testid': 'breakout-help', 'aria-label': 'Calls for help' });
  const close = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'breakout-close' }, 'Close all rooms');
  close.addEventListener('click', () => {
    const refused = main.breakouts.close();
    if (refused) toast(`The rooms were not closed: ${refused}`);
  });
  const el = h('div', {}, broadcast, help, close);
  return {
    el,
    update(moderates: boolean) {
      el.hidden = !moderates || !main.breakouts.plan;
      help.replaceChildren(...main.breakouts.helpWanted.map(({ from, room }) => h('li', {}, `${from} asks for help in ${room}`)));
    },
  };
}

// --- the banner ---

function bannerState(main: Meeting, shown: Meeting): string {
  const { plan, current, broadcasts } = main.breakouts;
  return JSON.stringify([plan?.id, plan?.ownRoom, plan?.choose, current?.index, shown === main, broadcasts.length]);
}

function renderBanner(banner: HTMLElement, main: Meeting, shown: Meeting, toast: Toast): void {
  const { plan, current, broadcasts } = main.breakouts;
  const latest = broadcasts[broadcasts.length - 1];
  const said = latest ? h('p', { 'data-testid': 'breakout-broadcast-shown' }, h('strong', {}, `${latest.from} to all rooms: `), latest.text) : null;
  const countdown = h('span', { class: 'breakout-countdown', 'data-testid': 'breakout-countdown' });
  banner.hidden = !plan || (shown === main && main.isModerator && plan.ownRoom === null && !said);
  if (!plan) { banner.replaceChildren(); return; }
  if (current && shown !== main) {
    banner.replaceChildren(h('div', {},
      h('p', {}, h('strong', { 'data-testid': 'breakout-current' }, current.label), ' — a breakout room, its own encrypted group. ', countdown),
      said,
      h('div', { class: 'banner-actions' },
        h('button', { type: 'button', class: 'btn', 'data-testid': 'breakout-help-button', onclick: () => toast(main.breakouts.askForHelp() ?? 'The moderators were asked to come.') }, 'Ask for help'),
        h('button', { type: 'button', class: 'btn', 'data-testid': 'breakout-return', onclick: () => void main.breakouts.returnToMain(null) }, 'Back to main room'))));
    return;
  }
  const own = plan.ownRoom;
  const rooms = own !== null ? [own] : plan.choose ? plan.rooms.map((_, i) => i) : [];
  banner.replaceChildren(h('div', {},
    h('p', {}, own !== null ? `Breakout rooms are open: you are in ${plan.rooms[own]?.label}. ` : 'Breakout rooms are open. ', countdown),
    said,
    h('div', { class: 'banner-actions' }, ...rooms.map((index) => h('button', {
      type: 'button', class: 'btn', 'data-testid': 'breakout-banner-join', onclick: () => void enter(main, index, toast),
    }, `Join ${plan.rooms[index]?.label}`)))));
}

function updateCountdown(banner: HTMLElement, plan: BreakoutView | null): void {
  const countdown = banner.querySelector<HTMLElement>('.breakout-countdown');
  if (!countdown) return;
  const left = plan?.endsAt ? Math.max(0, plan.endsAt - Date.now()) : null;
  const seconds = left === null ? 0 : Math.ceil(left / 1000);
  countdown.textContent = left === null ? '' : `Rooms close in ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}.`;
}
