// A tiny DOM builder: h('button', { class: 'x', onclick }, 'text').

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** A control with a count badge over its corner: the badge sits beside the button, not in it,
 *  so the button's accessible name is its label (which says the count) and its visible text
 *  stays part of that name (WCAG 2.5.3). */
export function badged(button: HTMLElement, badge: HTMLElement): HTMLElement {
  badge.setAttribute('aria-hidden', 'true');
  return h('span', { class: 'ctrl-badged' }, button, badge);
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** One or two letters for an avatar. */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0]?.[0], parts[parts.length - 1]?.[0]] : [[...(parts[0] ?? '?')][0]];
  return letters.join('').toUpperCase() || '?';
}

const SVG = 'http://www.w3.org/2000/svg';

/** An inline icon from a path list (24x24, stroked), hidden from screen readers. */
export function icon(name: keyof typeof ICONS): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', `icon icon-${name}`);
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}

export const ICONS = {
  mic: ['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', 'M19 11a7 7 0 0 1-14 0', 'M12 18v3'],
  micOff: ['M15 9.3V6a3 3 0 0 0-5.7-1.3', 'M9 9v3a3 3 0 0 0 5.1 2.1', 'M19 11a7 7 0 0 1-1.1 3.8', 'M5 11a7 7 0 0 0 11.6 5.3', 'M12 18v3', 'M3 3l18 18'],
  camera: ['M15 10l5-3v10l-5-3', 'M3 7h12v10H3z'],
  cameraOff: ['M15 10l5-3v10l-5-3', 'M10 7h5v5', 'M15 17H3V7h2', 'M3 3l18 18'],
  screen: ['M3 5h18v12H3z', 'M8 21h8', 'M12 17v4', 'M12 14V8', 'M9 11l3-3 3 3'],
  leave: ['M10 17l-5-5 5-5', 'M5 12h11', 'M14 4h5v16h-5'],
  people: ['M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M2 21v-1a7 7 0 0 1 14 0v1', 'M16 3.1a4 4 0 0 1 0 7.8', 'M22 21v-1a7 7 0 0 0-4-6.3'],
  chat: ['M4 5h16v11H10l-6 4z', 'M8 9h8', 'M8 12h5'],
  shield: ['M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z', 'M9 12l2 2 4-4'],
  settings: ['M4 6h10', 'M18 6h2', 'M16 4v4', 'M4 12h4', 'M12 12h8', 'M10 10v4', 'M4 18h12', 'M20 18h0', 'M18 16v4'],
  lock: ['M6 11h12v10H6z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  unlock: ['M6 11h12v10H6z', 'M8 11V7a4 4 0 0 1 7.7-1.5'],
  key: ['M8 14a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M11 11l9 9', 'M17 17l2-2', 'M15 15l2-2'],
  ban: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M5.6 5.6l12.8 12.8'],
  star: ['M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1-4.4-4.3 6.1-.9z'],
  warning: ['M12 3l10 18H2z', 'M12 10v5', 'M12 18v.5'],
  copy: ['M8 8h12v12H8z', 'M16 8V4H4v12h4'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  check: ['M5 12l5 5 9-10'],
  plus: ['M12 5v14', 'M5 12h14'],
  door: ['M5 21h14', 'M7 21V4h10v17', 'M14 12v.5'],
  power: ['M12 3v8', 'M6.3 6.3a8 8 0 1 0 11.4 0'],
  hand: ['M8 13V5.5a1.5 1.5 0 0 1 3 0V11', 'M11 10.5V4a1.5 1.5 0 0 1 3 0v6.5', 'M14 10.5V5.5a1.5 1.5 0 0 1 3 0V12', 'M17 11.5V9a1.5 1.5 0 0 1 3 0v5a7 7 0 0 1-7 7h-.5a6.5 6.5 0 0 1-5.4-2.9L4.3 14.2a1.5 1.5 0 0 1 2.4-1.8L8 14'],
  smile: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M8 14a4.5 4.5 0 0 0 8 0', 'M9 9.5v.5', 'M15 9.5v.5'],
  poll: ['M4 20h16', 'M7 16v-5', 'M12 16V5', 'M17 16v-8'],
  minus: ['M5 12h14'],
  record: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z'],
  film: ['M4 4h16v16H4z', 'M8 4v16', 'M16 4v16', 'M4 9h4', 'M4 15h4', 'M16 9h4', 'M16 15h4'],
} as const;
