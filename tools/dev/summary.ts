// Prints one plain line with the totals of a vitest JSON report, so that a CI
// log shows the outcome without vitest's colours and layout. Fails when any
// test failed or when the report is missing.
import { readFileSync } from "node:fs";

const path = process.argv[2];
if (path === undefined) throw new Error("usage: summary.ts <vitest-json-report>");
const report = JSON.parse(readFileSync(path, "utf8")) as {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
  success: boolean;
};
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`,
);
if (!report.success || report.numFailedTests > 0 || skipped > 0) process.exitCode = 1;
