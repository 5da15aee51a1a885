/** A QR code drawn as one SVG path from uqr's module matrix (no markup string, no canvas, nothing fetched). */
import { encode } from 'uqr';

export function Qr(props: { text: string; label: string; size?: number; testid?: string }) {
  const { data, size } = encode(props.text, { ecc: 'M', border: 2 });
  let d = '';
  data.forEach((row, y) => row.forEach((dark, x) => dark && (d += `M${x} ${y}h1v1h-1z`)));
  const px = props.size ?? 192;
  return (
    <svg
      class="qr"
      data-testid={props.testid}
      role="img"
      aria-label={props.label}
      viewBox={`0 0 ${size} ${size}`}
      width={px}
      height={px}
      shape-rendering="crispEdges"
    >
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
