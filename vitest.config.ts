import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // compiles dist/ first: tests that start the bins run the JavaScript that ships
    globalSetup: ["test/setup/build.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // vitest 4: poolOptions is gone; worker limits are top-level options
    pool: "forks",
    fileParallelism: true, // each test file starts its own nats-server
    maxWorkers: 2, // CI machine has 2 cores
    reporters: ["default", ["json", { outputFile: ".vitest/report.json" }]],
  },
});
