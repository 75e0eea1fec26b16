// Vitest: unmount rendered components and reset local storage, document attributes and IPC
// mocks after every test, so tests cannot see each other's state.
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/svelte';
import { clearMocks } from './lib/ipc/testing';

afterEach(() => {
  cleanup();
  clearMocks();
  localStorage.clear();
  delete document.documentElement.dataset.theme;
});
