// Test-only: put a signed-in user with `permissions` into the session state, as the core
// would after sign-in, so components show the controls those permissions allow.
import { session } from './index.svelte';

export function signInForTest(permissions: string[]): void {
  session.current = {
    username: 'tester',
    displayName: 'Tester',
    roles: [],
    permissions,
    expiresAtMs: Date.now() + 3_600_000,
    idleTimeoutSecs: 1800,
  };
}
