// A compact reporter for `node --test`: one line per test, nested under its
// suite, and for a failure the error's message, what the server answered and
// where in the test it failed, without stack traces or object dumps. The Go test
// uses it so that a run in which many tests fail still fits in a test log.
//
//   node --test --test-reporter=./tests/clients/reporter.mjs tests/clients/
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

// cause unwraps the runner's ERR_TEST_FAILURE to the error the test threw.
function cause(err) {
  while (err && err.code === 'ERR_TEST_FAILURE' && err.cause) err = err.cause;
  return err;
}

// describe returns the lines that explain err.
function describe(err) {
  const e = cause(err);
  if (!e || typeof e !== 'object') return [String(e)];
  const lines = [];
  const msg = String(e.message ?? e).split('\n');
  lines.push(`${e.name ?? 'Error'}: ${msg[0]}`, ...msg.slice(1, 25));
  if (msg.length > 25) lines.push(`... ${msg.length - 25} more lines`);
  // openai SDK errors: status, code, param; AI SDK errors: status and body.
  if (e.status !== undefined) lines.push(`status ${e.status}, code ${e.code ?? null}, param ${e.param ?? null}, type ${e.type ?? null}`);
  if (e.statusCode !== undefined) lines.push(`status ${e.statusCode}, body ${String(e.responseBody ?? '').trim()}`);
  if (e.cause && e.cause !== e) lines.push(`caused by ${cause(e.cause)?.message ?? e.cause}`);
  const at = String(e.stack ?? '').split('\n').find((l) => l.includes(here) || l.includes('tests/clients/'));
  if (at) lines.push(at.trim().replace(/^at .*\((.*)\)$/, 'at $1').replace(/file:\/\/\S*?tests\/clients\//, 'tests/clients/'));
  return lines;
}

export default async function* compact(source) {
  const counts = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0 };
  const pending = []; // pending[n]: finished lines of tests at nesting n whose parent is running
  const started = Date.now();
  for await (const { type, data } of source) {
    if (type === 'test:diagnostic') {
      // The runner's own summary lines come at nesting 0; the tests' at theirs.
      if (data.nesting > 0) (pending[data.nesting] ??= []).push(`${'  '.repeat(data.nesting + 1)}ℹ ${data.message}`);
      continue;
    }
    if (type === 'test:stderr' || type === 'test:stdout') {
      const text = String(data.message ?? '').trimEnd();
      if (text) yield text.split('\n').map((l) => `  | ${l}`).join('\n') + '\n';
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    const n = data.nesting;
    const pad = '  '.repeat(n);
    const suite = data.details?.type === 'suite';
    const ms = Math.round(data.details?.duration_ms ?? 0);
    const lines = [];
    const children = pending[n + 1] ?? [];
    pending[n + 1] = [];
    if (type === 'test:pass') {
      if (data.skip !== undefined) counts.skipped++;
      else if (data.todo !== undefined) counts.todo++;
      else if (!suite) counts.pass++;
      lines.push(`${pad}${suite ? '▶' : '✔'} ${data.name}${suite ? '' : ` (${ms}ms)`}${data.skip !== undefined ? ' # skipped' : ''}`);
    } else {
      const err = data.details?.error;
      const onlySubtests = err?.failureType === 'subtestsFailed';
      if (!suite) counts.fail++;
      lines.push(`${pad}${suite ? '▶' : '✖'} ${data.name}${suite ? '' : ` (${ms}ms)`}`);
      if (!onlySubtests) lines.push(...describe(err).map((l) => `${pad}    ${l}`));
    }
    if (!suite) counts.tests++;
    lines.push(...children);
    if (n === 0) yield lines.join('\n') + '\n';
    else (pending[n] ??= []).push(...lines);
  }
  const files = relative(process.cwd(), here) || '.';
  yield `ℹ ${files}: tests ${counts.tests}, pass ${counts.pass}, fail ${counts.fail}, skipped ${counts.skipped}, todo ${counts.todo}, ${Date.now() - started}ms\n`;
}
