import { defineConfig } from "vitest/config";

// `make screens`: the web app's screenshots (screens/), apart from the tests.
export default defineConfig({
  test: {
    include: ["screens/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
