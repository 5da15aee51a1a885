/**
 * A member's avatar: a 5×5 mirrored pattern and a hue, both derived from a hash of the member's
 * identity key (the key their safety number is made of), never from the nickname, so two people
 * who pick the same name look different. It is a recognition aid only: the safety number is what
 * proves who someone is. A line whose sender is no longer in the room gets a plain, patternless disc.
 */
import { avatarBits } from '../avatar.js';
import { t } from '../i18n.js';

const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));

function Pattern(props: { seed: string | undefined; size: number }) {
  if (props.seed === undefined) {
    return (
      <svg class="avatar-svg" viewBox="0 0 5 5" width={props.size} height={props.size} aria-hidden="true" focusable="false">
        <circle cx="2.5" cy="2.5" r="2.5" fill="var(--line)" />
      </svg>
    );
  }
  const [bits, tone] = avatarBits(fromHex(props.seed));
  const hue = tone % 360;
  const cells = [];
  for (let row = 0; row < 5; row++)
    for (let col = 0; col < 3; col++)
      if ((bits >>> (row * 3 + col)) & 1) {
        cells.push(<rect key={`${row}.${col}`} x={col} y={row} width="1" height="1" />);
        if (col < 2) cells.push(<rect key={`${row}.${4 - col}`} x={4 - col} y={row} width="1" height="1" />);
      }
  return (
    <svg
      class="avatar-svg"
      viewBox="-0.5 -0.5 6 6"
      width={props.size}
      height={props.size}
      aria-hidden="true"
      focusable="false"
      data-avatar={`${hue}:${bits & 0x7fff}`}
    >
      <rect x="-0.5" y="-0.5" width="6" height="6" rx="1.2" fill={`hsl(${hue} 55% 88%)`} />
      <g fill={`hsl(${hue} 60% 32%)`}>{cells}</g>
    </svg>
  );
}

/** The avatar; a button that opens the member's panel when `onOpen` is given. */
export function Avatar(props: { seed: string | undefined; nick: string; size?: number; onOpen?: (() => void) | undefined }) {
  const size = props.size ?? 32;
  if (props.onOpen === undefined) {
    return (
      <span class="avatar" data-testid="avatar">
        <Pattern seed={props.seed} size={size} />
      </span>
    );
  }
  return (
    <button
      type="button"
      class="avatar"
      data-testid="avatar"
      aria-label={t('panel.title', { nick: props.nick })}
      title={props.nick}
      onClick={props.onOpen}
    >
      <Pattern seed={props.seed} size={size} />
    </button>
  );
}
