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

// jsdom has no layout and no ResizeObserver; `bind:clientHeight` needs the constructor.
// Sizes stay 0 in tests, so components must work with whatever height they are given.
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

// uPlot reads the device pixel ratio through matchMedia when it loads; jsdom has none.
if (typeof window !== 'undefined' && !window.matchMedia) {
  window.matchMedia = (query: string) =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
