import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests open real sockets and spawn real processes; give slow CI machines room
    // without letting a hung test stall the run.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: keep process-spawning suites from starving each other.
    // Logs of passing tests are noise; a failing test shows its own.
    silent: "passed-only",
    maxWorkers: 2,
    minWorkers: 1
  }
})
