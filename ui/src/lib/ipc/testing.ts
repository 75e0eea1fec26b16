// Test-only access to Tauri's IPC mocks, so that lib/ipc stays the only importer of
// @tauri-apps/*. Component tests mock the core's answers through this.
export { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
// With `mockIPC(handler, { shouldMockEvents: true })`, `emit` delivers to `onLive` listeners.
export { emit } from '@tauri-apps/api/event';
