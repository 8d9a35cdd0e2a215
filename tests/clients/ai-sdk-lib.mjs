// Helpers of the Vercel AI SDK tests (ai-sdk.test.mjs, on the Chat Completions
// model, and ai-sdk-responses.test.mjs, on the default Responses model): the
// test tools as SDK tools, and the checks of usage and of a multi-step tool run.
import assert from 'node:assert/strict';

import { checkArgs, load, tools } from './lib.mjs';

const { tool } = load('ai');

export const toolPrompt = 'What is the weather in Paris, and what time is it there?';

export function wantUsage(u, what = 'usage') {
  assert.ok(u, `${what} is missing`);
  assert.ok(u.inputTokens > 0, `${what}.inputTokens = ${u.inputTokens}, want > 0`);
  assert.ok(u.outputTokens > 0, `${what}.outputTokens = ${u.outputTokens}, want > 0`);
  assert.equal(u.totalTokens, u.inputTokens + u.outputTokens, `${what}.totalTokens`);
}

// sdkTools are the test tools with zod input schemas; calls records each call.
export function sdkTools(calls) {
  return Object.fromEntries(Object.entries(tools).map(([name, t]) => [name, tool({
    description: t.description,
    inputSchema: t.schema,
    execute: async (input) => {
      checkArgs(name, input);
      calls.push(name);
      return t.marker;
    },
  })]));
}

// checkSteps asserts the first step called tools with valid inputs, their
// results went back, and the last step answered in text.
export function checkSteps(steps, calls) {
  assert.ok(steps.length >= 2, `${steps.length} step(s), want a tool step and a text step: ${JSON.stringify(steps.map((s) => s.finishReason))}`);
  const first = steps[0];
  assert.equal(first.finishReason, 'tool-calls', 'the first step finishReason');
  assert.ok(first.toolCalls.length >= 1, 'the first step called no tool');
  const ids = new Set();
  for (const c of first.toolCalls) {
    assert.ok(c.toolCallId && !ids.has(c.toolCallId), `tool call id ${JSON.stringify(c.toolCallId)} is empty or repeated`);
    ids.add(c.toolCallId);
    checkArgs(c.toolName, c.input);
  }
  assert.equal(first.toolResults.length, first.toolCalls.length, 'tool results of the first step');
  assert.equal(calls.length, first.toolCalls.length, 'tools executed');
  const last = steps.at(-1);
  assert.equal(last.finishReason, 'stop', 'the last step finishReason');
  assert.equal(last.toolCalls.length, 0, 'the last step called tools again');
}
