// LangChain JS (@langchain/openai's ChatOpenAI on Chat Completions) against the
// gateway: invoke and stream, bound tools with a ToolMessage round trip, and
// structured output by every method it offers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, checkArgs, load, models, personSchema, timeout, tools, wantMarker } from './lib.mjs';

const { ChatOpenAI } = load('@langchain/openai');
const { AIMessage, AIMessageChunk, HumanMessage, ToolMessage } = load('@langchain/core/messages');
const { tool } = load('@langchain/core/tools');

const toolPrompt = 'What is the weather in Paris, and what time is it there?';

function chatModel(model) {
  return new ChatOpenAI({ model, apiKey, configuration: { baseURL }, maxRetries: 0, timeout });
}

function wantUsageMetadata(u, what = 'usage_metadata') {
  assert.ok(u, `${what} is missing`);
  assert.ok(u.input_tokens > 0, `${what}.input_tokens = ${u.input_tokens}, want > 0`);
  assert.ok(u.output_tokens > 0, `${what}.output_tokens = ${u.output_tokens}, want > 0`);
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens, `${what}.total_tokens`);
}

// lcTools are the test tools as LangChain tools with zod schemas.
const lcTools = Object.entries(tools).map(([name, t]) => tool(async (args) => {
  checkArgs(name, args);
  return t.marker;
}, { name, description: t.description, schema: t.schema }));

// checkToolCalls asserts that an AIMessage calls offered tools with parsed,
// valid arguments and unique ids.
function checkToolCalls(msg) {
  const calls = msg.tool_calls ?? [];
  assert.ok(calls.length >= 1, `no tool_calls in ${JSON.stringify(msg)}`);
  assert.deepEqual(msg.invalid_tool_calls ?? [], [], 'invalid_tool_calls');
  const ids = new Set();
  for (const c of calls) {
    assert.ok(typeof c.id === 'string' && c.id !== '', `tool call id ${JSON.stringify(c.id)}`);
    assert.ok(!ids.has(c.id), `tool call id ${c.id} is not unique`);
    ids.add(c.id);
    assert.equal(typeof c.args, 'object', `args of ${c.name} are not parsed: ${JSON.stringify(c.args)}`);
    checkArgs(c.name, c.args);
  }
  return calls;
}

// roundTrip answers msg's tool calls with ToolMessages and returns the model's
// answer to them.
async function roundTrip(bound, history, msg) {
  const results = checkToolCalls(msg).map((c) => new ToolMessage({ content: tools[c.name].marker, tool_call_id: c.id }));
  const answer = await bound.invoke([...history, msg, ...results]);
  assert.ok(answer instanceof AIMessage, `answer is ${answer?.constructor?.name}`);
  assert.deepEqual(answer.tool_calls ?? [], [], 'tool calls again after the results');
  wantMarker(answer.text ?? answer.content);
  return answer;
}

for (const model of models) {
  describe(`LangChain ChatOpenAI, ${model}`, { timeout }, () => {
    test('invoke', async () => {
      const res = await chatModel(model).invoke('Hello big world');
      assert.ok(res instanceof AIMessage, `result is ${res?.constructor?.name}`);
      assert.equal(typeof res.content, 'string');
      assert.ok(res.content !== '', 'empty answer');
      wantUsageMetadata(res.usage_metadata);
    });

    test('stream', async () => {
      let acc;
      let n = 0;
      for await (const chunk of await chatModel(model).stream('Hello big world')) {
        assert.ok(chunk instanceof AIMessageChunk, `chunk is ${chunk?.constructor?.name}`);
        acc = acc ? acc.concat(chunk) : chunk;
        n++;
      }
      assert.ok(n > 0, 'no chunks');
      assert.ok(acc.content !== '', 'the stream carried no text');
      wantUsageMetadata(acc.usage_metadata, 'streamed usage_metadata');
    });

    test('bindTools, ToolMessage round trip', async () => {
      const bound = chatModel(model).bindTools(lcTools);
      const history = [new HumanMessage(toolPrompt)];
      const msg = await bound.invoke(history);
      await roundTrip(bound, history, msg);
    });

    test('bindTools, streamed tool calls', async () => {
      const bound = chatModel(model).bindTools(lcTools);
      const history = [new HumanMessage(toolPrompt)];
      let acc;
      for await (const chunk of await bound.stream(history)) acc = acc ? acc.concat(chunk) : chunk;
      assert.ok(acc, 'no chunks');
      // A concatenated chunk parses its tool_call_chunks into tool_calls.
      const msg = new AIMessage({ content: acc.content, tool_calls: acc.tool_calls, invalid_tool_calls: acc.invalid_tool_calls });
      await roundTrip(bound, history, msg);
    });

    // The default is jsonSchema for these model names; functionCalling forces a
    // tool call. (jsonMode is left out: json_object promises JSON, not a schema.)
    for (const method of [undefined, 'jsonSchema', 'functionCalling']) {
      test(`withStructuredOutput, method ${method ?? '(default)'}`, async () => {
        const opts = method ? { method, name: 'person' } : { name: 'person' };
        const structured = chatModel(model).withStructuredOutput(personSchema, opts);
        const out = await structured.invoke('Describe a user of the system.');
        const r = personSchema.safeParse(out);
        assert.ok(r.success, `${JSON.stringify(out)} does not pass the schema: ${r.error}`);
      });
    }
  });
}
