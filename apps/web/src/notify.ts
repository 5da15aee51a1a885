/**
 * Opt-in attention for messages that arrive while Nullroom is in the background: a desktop
 * notification (which names the room, never the sender or the text: the OS may log or mirror
 * notifications elsewhere) and a short tone generated on the spot (no sound file is fetched).
 */
import { t } from './i18n.js';
import type { Prefs } from './prefs.js';

let audio: AudioContext | undefined;

function beep(): void {
  audio ??= new AudioContext();
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.08, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.25);
}

export function attention(prefs: Prefs, roomName: string, tag: string): void {
  if (!document.hidden) return;
  if (prefs.notifications && typeof Notification !== 'undefined' && Notification.permission === 'granted') {
    new Notification(t('notify.title'), { body: t('notify.body', { room: roomName }), tag, silent: prefs.sound });
  }
  if (prefs.sound) {
    try {
      beep();
    } catch {
      // Audio refused (no user gesture yet): the notification and the badge still tell.
    }
  }
}

/** Asks for permission when the user turns notifications on; false when the browser refuses. */
export async function enableNotifications(): Promise<boolean> {
  if (typeof Notification === 'undefined') return false;
  if (Notification.permission === 'granted') return true;
  return (await Notification.requestPermission()) === 'granted';
}

export function setTitleUnread(total: number): void {
  document.title = total > 0 ? `(${total}) ${t('app.name')}` : t('app.name');
}
