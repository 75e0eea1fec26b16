// Who is signed in, as the core reports it. The window shows only the screens and actions
// the user's permissions allow; the core checks every call again regardless.
import { api, onSessionLost, type SessionView } from '../ipc';

class SessionState {
  /** The signed-in user, or null. */
  current = $state<SessionView | null>(null);
  /** The store has no user yet: the first administrator must be created. */
  needsFirstAdmin = $state(false);
  /** The first answer from the core has arrived. */
  ready = $state(false);
  /** The last session ended because it expired (shown on the sign-in screen). */
  expired = $state(false);
}

export const session = new SessionState();

/** Whether the signed-in user holds `permission` (`backup:restore`). */
export function can(permission: string): boolean {
  return session.current?.permissions.includes(permission) ?? false;
}

/** Asks the core who is signed in and whether setup is needed. */
export async function refreshSession(): Promise<void> {
  const [setup, current] = await Promise.all([api.setupStatus(), api.currentSession()]);
  session.needsFirstAdmin = setup.needsFirstAdmin;
  session.current = current;
  session.ready = true;
}

export function signedIn(view: SessionView): void {
  session.current = view;
  session.needsFirstAdmin = false;
  session.expired = false;
}

export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } finally {
    session.current = null;
  }
}

onSessionLost(() => {
  if (session.current) session.expired = true;
  session.current = null;
});
