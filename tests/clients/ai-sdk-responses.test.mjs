// The Vercel AI SDK (ai + @ai-sdk/openai) against the gateway on its default
// OpenAI model, openai(model), which speaks the Responses API: plain, a
// conversation continued from response.messages (the SDK sends item_reference
// items for the stored assistant output), multi-step tool use with generateText
// (with reasoning too, whose stored items later steps reference) and
// streamText, and generateObject.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, load, models, personSchema, timeout, wantMarker } from './lib.mjs';
import { checkSteps, sdkTools, toolPrompt, wantUsage } from './ai-sdk-lib.mjs';

const { generateObject, generateText, stepCountIs, streamText } = load('ai');
const { createOpenAI } = load('@ai-sdk/openai');

const provider = createOpenAI({ baseURL, apiKey });

// responseID returns the Responses id of a result (or step), which the SDK
// keeps in its provider metadata.
function responseID(r) {
  const id = r.providerMetadata?.openai?.responseId;
  assert.match(String(id), /^resp_/, `responseId in ${JSON.stringify(r.providerMetadata)}`);
  return id;
}

// requestBody returns the body a step sent.
function requestBody(step) {
  const b = step.request?.body;
  assert.ok(b, 'the step kept no request body');
  return typeof b === 'string' ? JSON.parse(b) : b;
}

// checkToolRequests asserts that every step after the first sent the earlier
// calls and their outputs back: each function_call_output answers a call sent
// before it (inline or by item_reference).
function checkToolRequests(steps) {
  for (const [i, s] of steps.entries()) {
    if (i === 0) continue;
    const input = requestBody(s).input;
    assert.ok(Array.isArray(input), `step ${i} sent input ${JSON.stringify(input)}`);
    const outputs = input.filter((it) => it.type === 'function_call_output');
    assert.ok(outputs.length >= steps[0].toolCalls.length, `step ${i} sent ${outputs.length} function_call_output items: ${JSON.stringify(input)}`);
    for (const o of outputs) {
      const at = input.indexOf(o);
      const call = input.slice(0, at).some((it) => it.type === 'function_call' && it.call_id === o.call_id);
      const ref = input.slice(0, at).some((it) => it.type === 'item_reference');
      assert.ok(call || ref, `step ${i}: the output for ${o.call_id} follows no call: ${JSON.stringify(input)}`);
    }
  }
}

for (const model of models) {
  describe(`AI SDK openai responses, ${model}`, { timeout }, () => {
    test('generateText', async () => {
      const r = await generateText({ model: provider(model), prompt: 'Hello big world', maxRetries: 0 });
      assert.ok(r.text !== '', 'empty answer');
      assert.equal(r.finishReason, 'stop');
      wantUsage(r.usage);
      responseID(r);
      assert.equal(requestBody(r).input.length, 1, 'the request input');
    });

    test('streamText', async () => {
      const errors = [];
      const r = streamText({ model: provider(model), prompt: 'Hello big world', maxRetries: 0, onError: ({ error }) => errors.push(error) });
      let text = '';
      for await (const t of r.textStream) text += t;
      if (errors.length) throw errors[0];
      assert.ok(text !== '', 'the stream carried no text');
      assert.equal(await r.text, text);
      assert.equal(await r.finishReason, 'stop');
      wantUsage(await r.usage);
      responseID({ providerMetadata: await r.providerMetadata });
    });

    test('generateText, a conversation continued with item_reference', async () => {
      const prompt = 'My name is Ada and I like tea.';
      const first = await generateText({ model: provider(model), prompt, maxRetries: 0 });
      assert.ok(first.text !== '', 'empty first answer');
      const itemIDs = first.response.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .map((p) => p.providerOptions?.openai?.itemId).filter(Boolean);
      assert.ok(itemIDs.length >= 1, `no item ids in the first answer's messages: ${JSON.stringify(first.response.messages)}`);
      const messages = [{ role: 'user', content: prompt }, ...first.response.messages, { role: 'user', content: 'What do I like to drink?' }];
      const second = await generateText({ model: provider(model), messages, maxRetries: 0 });
      const input = requestBody(second).input;
      const refs = input.filter((it) => it.type === 'item_reference').map((it) => it.id);
      assert.deepEqual(refs, itemIDs, `the second request's item references: ${JSON.stringify(input)}`);
      assert.ok(second.text !== '', 'empty second answer');
      assert.equal(second.finishReason, 'stop');
      wantUsage(second.usage);
      // The referenced answer went into the prompt: more input than the first turn.
      assert.ok(second.usage.inputTokens > first.usage.inputTokens,
        `inputTokens ${second.usage.inputTokens} continued, ${first.usage.inputTokens} first`);
    });

    test('generateText with tools, multiple steps', async () => {
      const calls = [];
      const r = await generateText({
        model: provider(model),
        prompt: toolPrompt,
        tools: sdkTools(calls),
        stopWhen: stepCountIs(5),
        maxRetries: 0,
      });
      checkSteps(r.steps, calls);
      checkToolRequests(r.steps);
      for (const s of r.steps) responseID(s);
      wantMarker(r.text);
      wantUsage(r.totalUsage, 'totalUsage');
    });

    test('generateText with tools and reasoning, multiple steps', async (t) => {
      const calls = [];
      const r = await generateText({
        model: provider(model),
        prompt: toolPrompt,
        tools: sdkTools(calls),
        stopWhen: stepCountIs(5),
        maxRetries: 0,
        // forceReasoning: the SDK knows none of these model ids as a reasoning model.
        providerOptions: { openai: { reasoningEffort: 'low', reasoningSummary: 'auto', forceReasoning: true } },
      });
      checkSteps(r.steps, calls);
      checkToolRequests(r.steps);
      // Each later step refers to the stored reasoning items of the earlier ones.
      const reasoningIDs = r.steps[0].reasoning.map((p) => p.providerMetadata?.openai?.itemId).filter(Boolean);
      t.diagnostic(`${reasoningIDs.length} reasoning item(s) in the first step`);
      const refs = requestBody(r.steps[1]).input.filter((it) => it.type === 'item_reference').map((it) => it.id);
      assert.deepEqual(refs, reasoningIDs, 'the item references of the second step');
      wantMarker(r.text);
      wantUsage(r.totalUsage, 'totalUsage');
    });

    test('streamText with tools, multiple steps', async () => {
      const calls = [];
      const errors = [];
      const r = streamText({
        model: provider(model),
        prompt: toolPrompt,
        tools: sdkTools(calls),
        stopWhen: stepCountIs(5),
        maxRetries: 0,
        onError: ({ error }) => errors.push(error),
      });
      const parts = [];
      for await (const p of r.fullStream) parts.push(p.type);
      if (errors.length) throw errors[0];
      for (const want of ['tool-input-start', 'tool-call', 'tool-result', 'text-delta', 'finish-step', 'finish']) {
        assert.ok(parts.includes(want), `no ${want} part in the stream: ${[...new Set(parts)]}`);
      }
      assert.ok(!parts.includes('error'), `an error part in the stream: ${parts}`);
      const steps = await r.steps;
      checkSteps(steps, calls);
      checkToolRequests(steps);
      assert.equal(await r.finishReason, 'stop');
      wantMarker(await r.text);
      wantUsage(await r.totalUsage, 'totalUsage');
    });

    test('generateObject', async () => {
      const r = await generateObject({
        model: provider(model),
        schema: personSchema,
        schemaName: 'person',
        prompt: 'Describe a user of the system.',
        maxRetries: 0,
      });
      const p = personSchema.safeParse(r.object);
      assert.ok(p.success, `${JSON.stringify(r.object)} does not pass the schema: ${p.error}`);
      assert.equal(r.finishReason, 'stop');
      wantUsage(r.usage);
      assert.equal(requestBody(r).text?.format?.type, 'json_schema', 'generateObject did not ask for a json_schema format');
    });
  });
}
