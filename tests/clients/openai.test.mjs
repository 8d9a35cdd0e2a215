// The official openai SDK against the gateway: plain and streamed answers, tool
// calling round trips (by hand, with the stream helper and with runTools),
// structured output, an image prompt, and the errors the SDK maps to its types.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  apiKey, baseURL, checkArgs, jsonSchema, load, models, openaiTools, personSchema,
  pngDataURL, timeout, tools, wantMarker, wantUsage,
} from './lib.mjs';

const { OpenAI, NotFoundError, BadRequestError } = load('openai');
const { zodResponseFormat, zodFunction } = load('openai/helpers/zod');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout });

const toolPrompt = 'What is the weather in Paris, and what time is it there?';

// checkToolCalls asserts that a message calls offered tools with valid
// arguments and unique ids, and returns the parsed calls.
function checkToolCalls(message, finish) {
  assert.equal(finish, 'tool_calls', `finish_reason = ${finish}, want tool_calls; message ${JSON.stringify(message)}`);
  const calls = message.tool_calls ?? [];
  assert.ok(calls.length >= 1, `no tool_calls in ${JSON.stringify(message)}`);
  const ids = new Set();
  for (const c of calls) {
    assert.equal(c.type, 'function', `tool call type ${c.type}`);
    assert.ok(typeof c.id === 'string' && c.id !== '', `tool call id ${JSON.stringify(c.id)}`);
    assert.ok(!ids.has(c.id), `tool call id ${c.id} is not unique`);
    ids.add(c.id);
    let args;
    assert.doesNotThrow(() => { args = JSON.parse(c.function.arguments); },
      `arguments of ${c.function.name} are not JSON: ${JSON.stringify(c.function.arguments)}`);
    checkArgs(c.function.name, args);
  }
  return calls;
}

// toolResults answers each call with its tool's marker.
function toolResults(calls) {
  return calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: tools[c.function.name].marker }));
}

// assistantTurn is the assistant message to send back: what the model said.
function assistantTurn(calls, content = null) {
  return {
    role: 'assistant',
    content,
    tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } })),
  };
}

// unknownModel is well formed (a known provider) but in no catalog.
const unknownModel = 'openai/no-such-model';

// wantBadToolMessage asserts err is the 400 for a tool message that answers no
// tool call: a BadRequestError about the messages, not a refusal of tools.
function wantBadToolMessage(t, err) {
  assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
  t.diagnostic(`400 ${err.code}, param ${err.param}: ${err.message}`);
  assert.equal(err.status, 400);
  assert.notEqual(err.param, 'tools', `the 400 is about tools, not the tool message: ${err.message}`);
  assert.notEqual(err.code, 'unsupported_parameter', `the 400 refuses tool messages altogether: ${err.message}`);
  assert.match(String(err.param ?? err.message), /messages/, 'the 400 does not point at the messages');
  return true;
}

// streamed reads a streamed completion as SDK users do: text concatenated, tool
// calls accumulated by index, the finish reason and the usage chunk.
async function streamed(params) {
  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  const calls = [];
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      const d = choice.delta ?? {};
      if (d.content) text += d.content;
      for (const tc of d.tool_calls ?? []) {
        assert.equal(typeof tc.index, 'number', `tool call delta without index: ${JSON.stringify(tc)}`);
        const acc = (calls[tc.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (tc.id) acc.id = tc.id;
        if (tc.type) acc.type = tc.type;
        if (tc.function?.name) acc.function.name += tc.function.name;
        if (tc.function?.arguments) acc.function.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.ok(chunks > 0, 'the stream had no chunks');
  assert.ok(!calls.includes(undefined), `tool call indexes are not dense: ${JSON.stringify(calls)}`);
  return { text, finish, usage, calls };
}

for (const model of models) {
  describe(`openai SDK, ${model}`, { timeout }, () => {
    test('create', async () => {
      const prompt = 'Hello big world';
      const c = await client.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] });
      assert.equal(c.object, 'chat.completion');
      assert.equal(c.model, model);
      assert.equal(c.choices.length, 1);
      const ch = c.choices[0];
      assert.equal(ch.message.role, 'assistant');
      assert.ok(ch.message.content, `empty answer: ${JSON.stringify(c)}`);
      assert.equal(ch.finish_reason, 'stop');
      wantUsage(c.usage);
    });

    test('create, streamed with include_usage', async () => {
      const r = await streamed({ model, messages: [{ role: 'user', content: 'Hello big world' }] });
      assert.ok(r.text, 'the stream carried no text');
      assert.equal(r.finish, 'stop');
      wantUsage(r.usage, 'the usage chunk');
    });

    test('tool calls, round trip', async () => {
      const messages = [{ role: 'user', content: toolPrompt }];
      const first = await client.chat.completions.create({ model, messages, tools: openaiTools() });
      wantUsage(first.usage);
      const calls = checkToolCalls(first.choices[0].message, first.choices[0].finish_reason);
      messages.push(first.choices[0].message, ...toolResults(calls));
      const second = await client.chat.completions.create({ model, messages, tools: openaiTools() });
      const ch = second.choices[0];
      assert.equal(ch.finish_reason, 'stop', `after tool results: ${JSON.stringify(ch)}`);
      assert.ok(!ch.message.tool_calls?.length, `tool calls again after the results: ${JSON.stringify(ch.message)}`);
      wantMarker(ch.message.content);
      wantUsage(second.usage);
    });

    test('tool calls, round trip streamed', async () => {
      const messages = [{ role: 'user', content: toolPrompt }];
      const first = await streamed({ model, messages, tools: openaiTools() });
      const calls = checkToolCalls({ tool_calls: first.calls }, first.finish);
      wantUsage(first.usage, 'the usage chunk');
      messages.push(assistantTurn(calls, first.text || null), ...toolResults(calls));
      const second = await streamed({ model, messages, tools: openaiTools() });
      assert.equal(second.finish, 'stop');
      assert.equal(second.calls.length, 0, `tool calls again after the results: ${JSON.stringify(second.calls)}`);
      wantMarker(second.text);
      wantUsage(second.usage, 'the usage chunk');
    });

    test('tool calls, chat.completions.stream helper', async () => {
      const messages = [{ role: 'user', content: toolPrompt }];
      const stream = client.chat.completions.stream({ model, messages, tools: openaiTools(), stream_options: { include_usage: true } });
      const done = [];
      stream.on('tool_calls.function.arguments.done', (e) => done.push(e));
      const first = await stream.finalChatCompletion();
      const calls = checkToolCalls(first.choices[0].message, first.choices[0].finish_reason);
      assert.equal(done.length, calls.length, 'tool_calls.function.arguments.done events');
      for (const e of done) checkArgs(e.name, e.parsed_arguments ?? JSON.parse(e.arguments));
      messages.push(first.choices[0].message, ...toolResults(calls));
      const second = await client.chat.completions.stream({ model, messages, tools: openaiTools() }).finalChatCompletion();
      wantMarker(second.choices[0].message.content);
    });

    for (const stream of [false, true]) {
      test(`tool calls, runTools${stream ? ' streamed' : ''}`, async () => {
        const called = [];
        const runnable = Object.entries(tools).map(([name, t]) => zodFunction({
          name,
          description: t.description,
          parameters: t.schema,
          function: (args) => {
            checkArgs(name, args);
            called.push(name);
            return t.marker;
          },
        }));
        const runner = client.chat.completions.runTools(
          { model, messages: [{ role: 'user', content: toolPrompt }], tools: runnable, stream },
          { maxChatCompletions: 3 },
        );
        const text = await runner.finalContent();
        assert.ok(called.length >= 1, 'runTools called no tool');
        wantMarker(text);
      });
    }

    test('response_format json_schema', async () => {
      const c = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Describe a user of the system.' }],
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: jsonSchema(personSchema) } },
      });
      const content = c.choices[0].message.content;
      let v;
      assert.doesNotThrow(() => { v = JSON.parse(content); }, `answer is not JSON: ${JSON.stringify(content)}`);
      for (const k of ['name', 'age', 'tags', 'role', 'active']) assert.ok(k in v, `answer ${content} lacks required key ${k}`);
      const r = personSchema.safeParse(v);
      assert.ok(r.success, `answer ${content} does not match the schema: ${r.error}`);
      wantUsage(c.usage);
    });

    test('response_format json_schema, chat.completions.parse with zodResponseFormat', async () => {
      const c = await client.chat.completions.parse({
        model,
        messages: [{ role: 'user', content: 'Describe a user of the system.' }],
        response_format: zodResponseFormat(personSchema, 'person'),
      });
      const parsed = c.choices[0].message.parsed;
      assert.ok(parsed, `nothing parsed from ${JSON.stringify(c.choices[0].message)}`);
      personSchema.parse(parsed);
    });

    test('response_format json_object', async () => {
      const c = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Answer in JSON: an object with a greeting.' }],
        response_format: { type: 'json_object' },
      });
      const content = c.choices[0].message.content;
      let v;
      assert.doesNotThrow(() => { v = JSON.parse(content); }, `answer is not JSON: ${JSON.stringify(content)}`);
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `answer ${content} is not a JSON object`);
    });

    test('image prompt', async () => {
      const c = await client.chat.completions.create({
        model,
        messages: [{
          role: 'user',
          content: [
            { type: 'text', text: 'What colour is this image?' },
            { type: 'image_url', image_url: { url: pngDataURL } },
          ],
        }],
      });
      assert.equal(c.choices[0].message.role, 'assistant');
      assert.equal(typeof c.choices[0].message.content, 'string');
      wantUsage(c.usage);
    });

    test('tool message answering no call is a 400', async (t) => {
      const messages = [
        { role: 'user', content: toolPrompt },
        assistantTurn([{ id: 'call_known', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } }]),
        { role: 'tool', tool_call_id: 'call_unknown', content: 'sunny' },
      ];
      await assert.rejects(client.chat.completions.create({ model, messages, tools: openaiTools() }),
        (err) => wantBadToolMessage(t, err));
    });
  });
}

describe('openai SDK, errors', { timeout }, () => {
  test('unknown model is NotFoundError model_not_found', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: unknownModel, messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
        assert.equal(err.status, 404);
        assert.equal(err.code, 'model_not_found');
        assert.ok(err.requestID ?? err.request_id ?? err.headers?.get?.('x-request-id'), 'no request id on the error');
        return true;
      },
    );
  });

  test('unknown model, streamed, is NotFoundError model_not_found', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: unknownModel, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
  });

  test('tool message without any call is a 400', async (t) => {
    const messages = [
      { role: 'user', content: toolPrompt },
      { role: 'tool', tool_call_id: 'call_nowhere', content: 'sunny' },
    ];
    await assert.rejects(client.chat.completions.create({ model: models[0], messages }),
      (err) => wantBadToolMessage(t, err));
  });

  test('models list has every model', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const m of models) assert.ok(ids.includes(m), `GET /v1/models lacks ${m}: ${ids}`);
  });
});
