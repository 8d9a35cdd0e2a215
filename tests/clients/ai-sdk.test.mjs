// The Vercel AI SDK (ai + @ai-sdk/openai) against the gateway, on the Chat
// Completions model (openai.chat(model); the default openai(model) speaks the
// Responses API, which ai-sdk-responses.test.mjs drives): plain, multi-step tool
// use with generateText and streamText, and generateObject.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, checkArgs, load, models, personSchema, timeout, tools, wantMarker } from './lib.mjs';

const { generateObject, generateText, stepCountIs, streamText, tool } = load('ai');
const { createOpenAI } = load('@ai-sdk/openai');

const provider = createOpenAI({ baseURL, apiKey });

const toolPrompt = 'What is the weather in Paris, and what time is it there?';

function wantUsage(u, what = 'usage') {
  assert.ok(u, `${what} is missing`);
  assert.ok(u.inputTokens > 0, `${what}.inputTokens = ${u.inputTokens}, want > 0`);
  assert.ok(u.outputTokens > 0, `${what}.outputTokens = ${u.outputTokens}, want > 0`);
  assert.equal(u.totalTokens, u.inputTokens + u.outputTokens, `${what}.totalTokens`);
}

// sdkTools are the test tools with zod input schemas; calls records each call.
function sdkTools(calls) {
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
function checkSteps(steps, calls) {
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

for (const model of models) {
  describe(`AI SDK openai.chat, ${model}`, { timeout }, () => {
    test('generateText', async () => {
      const r = await generateText({ model: provider.chat(model), prompt: 'Hello big world', maxRetries: 0 });
      assert.ok(r.text !== '', 'empty answer');
      assert.equal(r.finishReason, 'stop');
      wantUsage(r.usage);
    });

    test('streamText', async () => {
      const errors = [];
      const r = streamText({ model: provider.chat(model), prompt: 'Hello big world', maxRetries: 0, onError: ({ error }) => errors.push(error) });
      let text = '';
      for await (const t of r.textStream) text += t;
      if (errors.length) throw errors[0];
      assert.ok(text !== '', 'the stream carried no text');
      assert.equal(await r.text, text);
      wantUsage(await r.usage);
    });

    test('generateText with tools, multiple steps', async () => {
      const calls = [];
      const r = await generateText({
        model: provider.chat(model),
        prompt: toolPrompt,
        tools: sdkTools(calls),
        stopWhen: stepCountIs(3),
        maxRetries: 0,
      });
      checkSteps(r.steps, calls);
      wantMarker(r.text);
      wantUsage(r.totalUsage, 'totalUsage');
    });

    test('streamText with tools, multiple steps', async () => {
      const calls = [];
      const errors = [];
      const r = streamText({
        model: provider.chat(model),
        prompt: toolPrompt,
        tools: sdkTools(calls),
        stopWhen: stepCountIs(3),
        maxRetries: 0,
        onError: ({ error }) => errors.push(error),
      });
      const parts = [];
      for await (const p of r.fullStream) parts.push(p.type);
      if (errors.length) throw errors[0];
      for (const want of ['tool-call', 'tool-result', 'text-delta', 'finish']) {
        assert.ok(parts.includes(want), `no ${want} part in the stream: ${[...new Set(parts)]}`);
      }
      checkSteps(await r.steps, calls);
      wantMarker(await r.text);
      wantUsage(await r.totalUsage, 'totalUsage');
    });

    test('generateObject', async () => {
      const r = await generateObject({
        model: provider.chat(model),
        schema: personSchema,
        schemaName: 'person',
        prompt: 'Describe a user of the system.',
        maxRetries: 0,
      });
      const p = personSchema.safeParse(r.object);
      assert.ok(p.success, `${JSON.stringify(r.object)} does not pass the schema: ${p.error}`);
      wantUsage(r.usage);
    });
  });
}
