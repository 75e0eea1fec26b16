// Times as the Performance page shows and takes them: the window's local clock.

/** `2026-12-01T09:30` for an `<input type="datetime-local">`. */
export function toLocalInput(ms: number): string {
  const at = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** The milliseconds of a datetime-local value, or null when it is empty or not a time. */
export function fromLocalInput(text: string): number | null {
  if (!text) return null;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** `12-01 09:30` (this year) or `2025-12-01 09:30`. */
export function shortTime(ms: number): string {
  const at = new Date(ms);
  const text = toLocalInput(ms).replace('T', ' ');
  return at.getFullYear() === new Date().getFullYear() ? text.slice(5) : text;
}

/** `1 h 20 min`, `5 min`, `45 s`. */
export function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.round(ms / 1000)} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}
