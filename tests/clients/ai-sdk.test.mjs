// The Vercel AI SDK (ai + @ai-sdk/openai) against the gateway, on the Chat
// Completions model (openai.chat(model); the default openai(model) speaks the
// Responses API, which ai-sdk-responses.test.mjs drives): plain, multi-step tool
// use with generateText and streamText, and generateObject.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, load, models, personSchema, timeout, wantMarker } from './lib.mjs';
import { checkSteps, sdkTools, toolPrompt, wantUsage } from './ai-sdk-lib.mjs';

const { generateObject, generateText, stepCountIs, streamText } = load('ai');
const { createOpenAI } = load('@ai-sdk/openai');

const provider = createOpenAI({ baseURL, apiKey });

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
