#!/usr/bin/env node
// Usage: node .ci/summary.mjs [.vitest/report.json]
// Prints "N passed, N failed" as the last line (from vitest's JSON reporter).
// Exit code: 0 when the report exists, has tests and none failed; 1 otherwise.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? ".vitest/report.json";

let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch (err) {
  console.error(`[ci] test report ${file} missing or unreadable: ${err.message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const num = (v) => (Number.isFinite(v) ? v : 0);
const passed = num(report.numPassedTests);
// A test file that fails to load has no test results: count it as one failure.
const brokenFiles = (report.testResults ?? []).filter(
  (r) => r.status === "failed" && (r.assertionResults ?? []).length === 0,
).length;
const failed = num(report.numFailedTests) + brokenFiles;
const total = num(report.numTotalTests);
const suitesFailed = num(report.numFailedTestSuites);

let ok = true;
if (failed > 0) ok = false;
if (total === 0) {
  console.error("[ci] the test report contains no tests");
  ok = false;
}
if (suitesFailed > 0) {
  // e.g. a test file that failed to import: no test counted as failed
  console.error(`[ci] ${suitesFailed} test file(s) failed`);
  ok = false;
}
if (report.success === false && failed === 0 && suitesFailed === 0) {
  console.error("[ci] vitest reported success=false");
  ok = false;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
