/**
 * Inline SVG icons (currentColor, 24×24 stroke style), so buttons never depend on an emoji or
 * symbol font being installed. Shapes follow Lucide's (ISC licence, compatible with ours), redrawn
 * as a handful of paths. An icon is decoration unless given a label: the button beside it names
 * the action (aria-label or text).
 */

/** A circle as a path (every icon is a list of path data). */
const circle = (cx: number, cy: number, r: number) => `M${cx - r} ${cy}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0`;

const ICONS = {
  settings: ['M3 6h10', 'M19 6h2', 'M3 12h3', 'M12 12h9', 'M3 18h12', circle(16, 6, 2.5), circle(9, 12, 2.5), circle(18, 18, 2.5)],
  attach: ['m21.4 11-9.2 9.2a6 6 0 0 1-8.5-8.5l8.6-8.6a4 4 0 0 1 5.7 5.7l-8.6 8.6a2 2 0 0 1-2.8-2.8l8.5-8.5'],
  emoji: [circle(12, 12, 10), 'M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01'],
  lock: ['M5 11h14a2 2 0 0 1 2 2v7a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2Z', 'M7 11V7a5 5 0 0 1 10 0v4'],
  check: ['M20 6 9 17l-5-5'],
  warning: ['m21.7 18-8-14a2 2 0 0 0-3.5 0l-8 14A2 2 0 0 0 4 21h16a2 2 0 0 0 1.7-3Z', 'M12 9v4', 'M12 17h.01'],
  plus: ['M5 12h14', 'M12 5v14'],
  leave: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'm16 17 5-5-5-5', 'M21 12H9'],
  down: ['M12 5v14', 'm19 12-7 7-7-7'],
  pencil: ['M21.2 6.8a2.8 2.8 0 0 0-4-4L3.8 16.2a2 2 0 0 0-.5.8l-1.3 4.4a.5.5 0 0 0 .6.6l4.4-1.3a2 2 0 0 0 .8-.5Z', 'm15 5 4 4'],
  close: ['M18 6 6 18', 'm6 6 12 12'],
  save: ['M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4', 'm7 10 5 5 5-5', 'M12 15V3'],
  reply: ['m9 17-5-5 5-5', 'M20 18v-2a4 4 0 0 0-4-4H4'],
  edit: ['M21.2 6.8a2.8 2.8 0 0 0-4-4L3.8 16.2a2 2 0 0 0-.5.8L2 21.4a.5.5 0 0 0 .6.6l4.4-1.3a2 2 0 0 0 .8-.5Z', 'm15 5 4 4'],
  trash: ['M3 6h18', 'M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6', 'M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2'],
  messages: ['M7.9 20A9 9 0 1 0 4 16.1L2 22Z'],
  rooms: ['M4 9h16', 'M4 15h16', 'M10 3 8 21', 'M16 3l-2 18'],
  user: [circle(12, 7, 4), 'M19 21v-2a4 4 0 0 0-4-4H9a4 4 0 0 0-4 4v2'],
  react: ['M22 11v1a10 10 0 1 1-9-10', 'M8 14s1.5 2 4 2 4-2 4-2', 'M9 9h.01', 'M15 9h.01', 'M16 5h6', 'M19 2v6'],
} as const;
export type IconName = keyof typeof ICONS;
export const ICON_NAMES = Object.keys(ICONS) as IconName[];

export function Icon(props: { name: IconName; size?: number; label?: string }) {
  const size = props.size ?? 18;
  const a11y = props.label === undefined ? { 'aria-hidden': true as const } : { role: 'img' as const, 'aria-label': props.label };
  return (
    <svg class="ic" viewBox="0 0 24 24" width={size} height={size} focusable="false" data-icon={props.name} {...a11y}>
      {ICONS[props.name].map((d) => (
        <path key={d} d={d} fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" />
      ))}
    </svg>
  );
}
