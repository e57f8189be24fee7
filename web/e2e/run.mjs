// Runs every browser scenario in order, each in its own Node process, and prints the count the
// test runner reads ("N passed, M failed").
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// `perf` is the client-side performance bench (npm run bench:client): its limits are wall-clock, so it is run on
// a quiet machine and its figures quoted, not run with the other tests.
// `logfiles` needs a node log agent and a pod's log directory: crates/tke/tests/console_logs.rs runs it by name.
const all = ['overview', 'apply', 'scale', 'form', 'xss', 'terminal', 'cluster-ops', 'create-cluster', 'tke-kinds', 'access', 'registry', 'a11y', 'logout', 'import', 'notify', 'audit', 'alarm', 'logs', 'monitor'];
const chosen = process.argv.slice(2).length ? process.argv.slice(2) : all;
let passed = 0;
let failed = 0;
for (const name of chosen) {
  const r = spawnSync(process.execPath, [join(here, `${name}.mjs`)], { stdio: 'inherit', env: process.env, timeout: 180000 });
  if (r.status === 0) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
