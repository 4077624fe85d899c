import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    // The browser tests wait on what a real relay and a real page do; on a loaded
    // machine that takes longer than expect.poll's default second.
    expect: { poll: { timeout: 30_000 } },
  },
});
