// The alerts firing now, shared by the window: the Alerts page's badge, the big screen's
// banner, and a desktop notification for each CRITICAL alert that starts firing while the
// console is open (each fingerprint once per firing). Reloaded on `alerts://changed` (here,
// in the process leading alerting, or Prometheus posting to the agent), at most every
// 500 ms, and every 30 s in case an event was missed.
import { api, desktopNotify, onLive, type AlertView } from '../../lib/ipc';
import { t } from '../../lib/i18n/index.svelte';

export const firing = $state<{ alerts: AlertView[]; loaded: boolean }>({ alerts: [], loaded: false });

const notified = new Set<string>();
let stopWatching: (() => void) | null = null;

async function reload(): Promise<void> {
  try {
    const alerts = await api.alertFiring();
    firing.alerts = alerts;
    firing.loaded = true;
    for (const alert of alerts) {
      const key = `${alert.fingerprint}:${alert.startsMs}`;
      const muted = alert.silencedBy.length > 0 || alert.inhibited;
      if (alert.severity === 'critical' && !muted && !notified.has(key)) {
        notified.add(key);
        void desktopNotify(
          t('alerts.notifyTitle', { name: alert.alertname }),
          alert.annotations['summary'] ?? alert.alertname,
        );
      }
    }
  } catch {
    // Signed out or the core is away: the next event or tick tries again.
  }
}

/** Starts watching (once); returns the stop function. */
export function watchAlerts(): () => void {
  if (stopWatching) return stopWatching;
  let pending: ReturnType<typeof setTimeout> | null = null;
  const soon = (): void => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      void reload();
    }, 500);
  };
  void reload();
  const stopLive = onLive('alerts://changed', soon);
  const tick = setInterval(() => void reload(), 30_000);
  stopWatching = () => {
    stopLive();
    clearInterval(tick);
    if (pending) clearTimeout(pending);
    stopWatching = null;
  };
  return stopWatching;
}
