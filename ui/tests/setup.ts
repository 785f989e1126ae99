import "@testing-library/jest-dom/vitest";

// jsdom has no layout, hence no ResizeObserver (Svelte's bind:clientWidth uses it): sizes stay 0 there.
if (!("ResizeObserver" in globalThis)) {
  class NoLayoutResizeObserver {
    observe() {}
    unobserve() {}
    disconnect() {}
  }
  (globalThis as unknown as { ResizeObserver: unknown }).ResizeObserver = NoLayoutResizeObserver;
}
