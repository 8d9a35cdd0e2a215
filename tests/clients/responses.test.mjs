// The official openai SDK against the gateway's Responses API (POST
// /v1/responses and the stored responses under /v1/responses/{id}): plain and
// streamed answers (with a reasoning summary too), a function calling round
// trip (whole and streamed) continued with previous_response_id, a continued
// conversation, retrieve, delete and input_items with the SDK's pagination,
// structured output with text.format, and the 400 for a function_call_output
// that answers no call.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  apiKey, baseURL, checkArgs, jsonSchema, load, models, personSchema, timeout, tools, wantMarker,
} from './lib.mjs';

const { OpenAI, APIError, BadRequestError, NotFoundError } = load('openai');
const { zodTextFormat } = load('openai/helpers/zod');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout });

const toolPrompt = 'What is the weather in Paris, and what time is it there?';

/** responsesTools are the tools in the Responses API's shape: flat function tools. */
function responsesTools() {
  return Object.entries(tools).map(([name, t]) => ({
    type: 'function', name, description: t.description, parameters: jsonSchema(t.schema), strict: false,
  }));
}

// wantUsage asserts that Responses usage counts are positive and add up.
function wantUsage(u, what = 'usage') {
  assert.ok(u, `${what} is missing`);
  assert.ok(u.input_tokens > 0, `${what}.input_tokens = ${u.input_tokens}, want > 0`);
  assert.ok(u.output_tokens > 0, `${what}.output_tokens = ${u.output_tokens}, want > 0`);
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens, `${what}.total_tokens`);
}

// wantResponse asserts that r is a completed Response of model, with usage.
function wantResponse(r, model) {
  assert.equal(r.object, 'response', `object of ${JSON.stringify(r)}`);
  assert.match(r.id, /^resp_/, 'the response id');
  assert.equal(r.status, 'completed', `status of ${JSON.stringify(r)}`);
  assert.equal(r.error, null, 'error of a completed response');
  assert.equal(r.model, model);
  assert.ok(Array.isArray(r.output) && r.output.length >= 1, `no output in ${JSON.stringify(r)}`);
  for (const it of r.output) {
    assert.ok(typeof it.id === 'string' && it.id !== '', `output item without id: ${JSON.stringify(it)}`);
  }
  wantUsage(r.usage);
}

// wantText asserts that r answered in text (one assistant message, no call)
// and returns the text.
function wantText(r) {
  assert.equal(r.output.filter((it) => it.type === 'function_call').length, 0,
    `function calls in a text answer: ${JSON.stringify(r.output)}`);
  const msgs = r.output.filter((it) => it.type === 'message');
  assert.equal(msgs.length, 1, `message items in ${JSON.stringify(r.output)}`);
  assert.equal(msgs[0].role, 'assistant');
  assert.equal(msgs[0].status, 'completed');
  assert.ok(typeof r.output_text === 'string' && r.output_text !== '', `empty output_text: ${JSON.stringify(r.output)}`);
  const text = msgs[0].content.filter((c) => c.type === 'output_text').map((c) => c.text).join('');
  assert.equal(r.output_text, text, 'output_text is not the message text');
  return r.output_text;
}

// checkCalls asserts that a response calls offered tools with valid arguments
// and unique call ids, and returns the calls.
function checkCalls(r) {
  const calls = r.output.filter((it) => it.type === 'function_call');
  assert.ok(calls.length >= 1, `no function_call in ${JSON.stringify(r.output)}`);
  const ids = new Set();
  for (const c of calls) {
    assert.ok(typeof c.call_id === 'string' && c.call_id !== '', `call_id ${JSON.stringify(c.call_id)}`);
    assert.ok(!ids.has(c.call_id), `call_id ${c.call_id} is not unique`);
    ids.add(c.call_id);
    assert.equal(c.status, 'completed', `status of ${JSON.stringify(c)}`);
    let args;
    assert.doesNotThrow(() => { args = JSON.parse(c.arguments); },
      `arguments of ${c.name} are not JSON: ${JSON.stringify(c.arguments)}`);
    checkArgs(c.name, args);
  }
  return calls;
}

// callOutputs answers each call with its tool's marker.
function callOutputs(calls) {
  return calls.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: tools[c.name].marker }));
}

// sdkFields are what the SDK's stream helper adds to a Response it builds.
const sdkFields = new Set(['parsed', 'parsed_arguments', 'output_parsed']);

// plain returns a Response as the server sent it: without the fields the
// SDK's stream helper adds (output_text, which both add, stays).
function plain(r) {
  return JSON.parse(JSON.stringify(r, (k, v) => (sdkFields.has(k) ? undefined : v)));
}

// streamed runs client.responses.stream and returns its events, checked for
// sequence numbers and order, and the final Response.
async function streamed(params) {
  const stream = client.responses.stream(params);
  const events = [];
  for await (const ev of stream) events.push(ev);
  const final = await stream.finalResponse();
  assert.ok(events.length >= 3, `only ${events.length} events: ${events.map((e) => e.type)}`);
  assert.equal(events[0].type, 'response.created', 'the first event');
  assert.equal(events[0].sequence_number, 0, 'the first sequence_number');
  for (let i = 1; i < events.length; i++) {
    const [a, b] = [events[i - 1].sequence_number, events[i].sequence_number];
    assert.ok(Number.isInteger(b) && b > a,
      `event ${i} (${events[i].type}) has sequence_number ${b} after ${a}`);
  }
  assert.equal(events[0].response.status, 'in_progress', 'status in response.created');
  assert.equal(events[0].response.id, final.id, 'the id in response.created');
  assert.equal(events.at(-1).type, 'response.completed', `the last event; types ${events.map((e) => e.type)}`);
  const types = events.map((e) => e.type);
  assert.ok(!types.includes('error') && !types.includes('response.failed'), `failure events: ${types}`);
  const added = events.filter((e) => e.type === 'response.output_item.added');
  const done = events.filter((e) => e.type === 'response.output_item.done');
  assert.deepEqual(added.map((e) => e.item.id), final.output.map((it) => it.id), 'output_item.added ids');
  assert.deepEqual(done.map((e) => e.item.id), final.output.map((it) => it.id), 'output_item.done ids');
  return { events, final };
}

for (const model of models) {
  describe(`openai SDK responses, ${model}`, { timeout }, () => {
    test('responses.create', async () => {
      const r = await client.responses.create({ model, input: 'Hello big world' });
      wantResponse(r, model);
      wantText(r);
      assert.equal(r.store, true, 'store defaults to true');
      assert.equal(r.previous_response_id, null);
    });

    test('responses.stream', async () => {
      const { events, final } = await streamed({ model, input: 'Hello big world' });
      wantResponse(final, model);
      const text = wantText(final);
      const msg = final.output.find((it) => it.type === 'message');
      const deltas = events.filter((e) => e.type === 'response.output_text.delta');
      assert.ok(deltas.length >= 1, `no output_text.delta in ${events.map((e) => e.type)}`);
      for (const d of deltas) assert.equal(d.item_id, msg.id, 'item_id of an output_text.delta');
      assert.equal(deltas.map((d) => d.delta).join(''), text, 'the deltas joined');
      const textDone = events.filter((e) => e.type === 'response.output_text.done');
      assert.equal(textDone.length, 1, 'output_text.done events');
      assert.equal(textDone[0].text, text, 'output_text.done text');
      for (const want of ['response.in_progress', 'response.content_part.added', 'response.content_part.done']) {
        assert.ok(events.some((e) => e.type === want), `no ${want} event: ${events.map((e) => e.type)}`);
      }
      const got = await client.responses.retrieve(final.id);
      assert.deepEqual(plain(got), plain(final), 'retrieve differs from the streamed final response');
    });

    test('responses.stream with a reasoning summary', async (t) => {
      const { events, final } = await streamed({ model, input: 'Hello big world', reasoning: { effort: 'low', summary: 'auto' } });
      wantResponse(final, model);
      wantText(final);
      const reasoning = final.output.filter((it) => it.type === 'reasoning');
      t.diagnostic(`${reasoning.length} reasoning item(s)`);
      for (const it of reasoning) {
        const of = (type) => events.filter((e) => e.type === type && e.item_id === it.id);
        assert.ok(it.summary.length >= 1, `reasoning item without summary: ${JSON.stringify(it)}`);
        assert.equal(of('response.reasoning_summary_part.added').length, it.summary.length, 'reasoning_summary_part.added events');
        assert.equal(of('response.reasoning_summary_part.done').length, it.summary.length, 'reasoning_summary_part.done events');
        it.summary.forEach((part, i) => {
          assert.equal(part.type, 'summary_text');
          const deltas = of('response.reasoning_summary_text.delta').filter((e) => e.summary_index === i);
          assert.equal(deltas.map((d) => d.delta).join(''), part.text, `the summary deltas of ${it.id}[${i}] joined`);
          const done = of('response.reasoning_summary_text.done').filter((e) => e.summary_index === i);
          assert.equal(done.length, 1, `reasoning_summary_text.done events of ${it.id}[${i}]`);
          assert.equal(done[0].text, part.text, `reasoning_summary_text.done text of ${it.id}[${i}]`);
        });
      }
      const got = await client.responses.retrieve(final.id);
      assert.deepEqual(plain(got), plain(final), 'retrieve differs from the streamed final response');
    });

    test('function calling, round trip with previous_response_id', async () => {
      const first = await client.responses.create({ model, input: toolPrompt, tools: responsesTools() });
      wantResponse(first, model);
      const calls = checkCalls(first);
      const second = await client.responses.create({
        model, previous_response_id: first.id, input: callOutputs(calls), tools: responsesTools(),
      });
      wantResponse(second, model);
      assert.equal(second.previous_response_id, first.id);
      wantMarker(wantText(second));
    });

    test('function calling, round trip streamed', async () => {
      const { events, final: first } = await streamed({ model, input: toolPrompt, tools: responsesTools() });
      wantResponse(first, model);
      const calls = checkCalls(first);
      for (const c of calls) {
        const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta' && e.item_id === c.id);
        assert.equal(deltas.map((d) => d.delta).join(''), c.arguments, `the argument deltas of ${c.id} joined`);
        const done = events.filter((e) => e.type === 'response.function_call_arguments.done' && e.item_id === c.id);
        assert.equal(done.length, 1, `function_call_arguments.done events of ${c.id}`);
        assert.equal(done[0].arguments, c.arguments, `function_call_arguments.done arguments of ${c.id}`);
      }
      const { final: second } = await streamed({
        model, previous_response_id: first.id, input: callOutputs(calls), tools: responsesTools(),
      });
      wantResponse(second, model);
      wantMarker(wantText(second));
    });

    test('previous_response_id continues a conversation', async () => {
      const first = await client.responses.create({ model, instructions: 'Answer briefly.', input: 'My name is Ada and I like tea.' });
      wantResponse(first, model);
      const input = 'What do I like to drink?';
      const second = await client.responses.create({ model, previous_response_id: first.id, input });
      wantResponse(second, model);
      wantText(second);
      assert.equal(second.previous_response_id, first.id);
      assert.notEqual(second.id, first.id);
      // The conversation goes into the prompt: more input than the same request alone.
      const alone = await client.responses.create({ model, input, store: false });
      assert.ok(second.usage.input_tokens > alone.usage.input_tokens,
        `input_tokens ${second.usage.input_tokens} continued, ${alone.usage.input_tokens} alone: the conversation is not in the prompt`);
      const items = [];
      for await (const it of client.responses.inputItems.list(second.id)) items.push(it);
      assert.equal(items.length, 1, `input items of the second response: ${JSON.stringify(items)}`);
      assert.equal(items[0].type, 'message');
      assert.equal(items[0].role, 'user');
      assert.ok(items[0].id, 'input item without id');
      assert.deepEqual(items[0].content, [{ type: 'input_text', text: input }]);
      const got = await client.responses.retrieve(second.id);
      assert.deepEqual(got, second, 'retrieve differs from create');
      const firstAgain = await client.responses.retrieve(first.id);
      assert.deepEqual(firstAgain, first, 'the first response changed');
    });

    test('responses.retrieve and responses.delete', async () => {
      const r = await client.responses.create({ model, input: 'Hello big world' });
      const got = await client.responses.retrieve(r.id);
      assert.deepEqual(got, r, 'retrieve differs from create');
      const del = await client.responses.delete(r.id);
      // The SDK types delete as void; the API answers {id, object, deleted}.
      assert.deepEqual(del, { id: r.id, object: 'response', deleted: true }, 'the delete answer');
      const want404 = (err) => {
        assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
        assert.ok(err instanceof APIError);
        assert.equal(err.status, 404);
        return true;
      };
      await assert.rejects(client.responses.retrieve(r.id), want404, 'retrieve after delete');
      await assert.rejects(client.responses.delete(r.id), want404, 'delete after delete');
      await assert.rejects(client.responses.inputItems.list(r.id), want404, 'input_items after delete');
    });

    test('responses.inputItems.list, paged', async () => {
      const input = [
        { role: 'developer', content: 'Answer briefly.' },
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: 'Hello, how can I help?' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello big world' }] },
      ];
      const r = await client.responses.create({ model, input });
      wantResponse(r, model);
      const page = await client.responses.inputItems.list(r.id);
      const desc = page.data;
      assert.equal(desc.length, input.length, `input items: ${JSON.stringify(desc)}`);
      assert.equal(page.has_more, false);
      const ids = desc.map((it) => it.id);
      for (const id of ids) assert.ok(typeof id === 'string' && id !== '', `input item id ${JSON.stringify(id)}`);
      assert.equal(new Set(ids).size, ids.length, `input item ids are not unique: ${ids}`);
      // Newest first by default.
      assert.deepEqual(desc.map((it) => it.role), ['user', 'assistant', 'user', 'developer'], 'roles, newest first');
      assert.deepEqual(desc[0].content, [{ type: 'input_text', text: 'Hello big world' }]);
      assert.equal(desc[1].content[0].type, 'output_text');
      assert.equal(desc[1].content[0].text, 'Hello, how can I help?');

      const first = await client.responses.inputItems.list(r.id, { order: 'asc', limit: 1 });
      assert.equal(first.data.length, 1, 'a page of limit 1');
      assert.equal(first.has_more, true, 'has_more of the first page of 1');
      assert.equal(first.data[0].id, ids.at(-1), 'the first item, oldest first');
      const asc = [];
      let pages = 0;
      for await (const p of first.iterPages()) {
        pages++;
        assert.ok(p.data.length <= 1, `a page of limit 1 holds ${p.data.length}`);
        asc.push(...p.data);
      }
      assert.equal(pages, input.length, 'pages of one item');
      assert.deepEqual(asc.map((it) => it.id), [...ids].reverse(), 'pages, oldest first');
      const walked = [];
      for await (const it of client.responses.inputItems.list(r.id, { order: 'asc', limit: 1 })) walked.push(it);
      assert.deepEqual(walked, [...desc].reverse(), 'the async iterator, oldest first');
      const newest = [];
      for await (const it of client.responses.inputItems.list(r.id, { limit: 1 })) newest.push(it);
      assert.deepEqual(newest, desc, 'the async iterator, newest first');
    });

    test('text.format json_schema', async () => {
      const r = await client.responses.create({
        model,
        input: 'Describe a user of the system.',
        text: { format: { type: 'json_schema', name: 'person', strict: true, schema: jsonSchema(personSchema) } },
      });
      wantResponse(r, model);
      assert.equal(r.text.format.type, 'json_schema', 'the format the response repeats');
      assert.equal(r.text.format.name, 'person');
      const text = wantText(r);
      let v;
      assert.doesNotThrow(() => { v = JSON.parse(text); }, `answer is not JSON: ${JSON.stringify(text)}`);
      const p = personSchema.safeParse(v);
      assert.ok(p.success, `answer ${text} does not match the schema: ${p.error}`);
    });

    test('text.format, responses.parse with zodTextFormat', async () => {
      const r = await client.responses.parse({
        model,
        input: 'Describe a user of the system.',
        text: { format: zodTextFormat(personSchema, 'person') },
      });
      assert.ok(r.output_parsed, `nothing parsed from ${JSON.stringify(r.output)}`);
      personSchema.parse(r.output_parsed);
    });

    test('function_call_output answering no call is a 400', async (t) => {
      await assert.rejects(
        client.responses.create({
          model,
          input: [{ type: 'function_call_output', call_id: 'call_nowhere', output: 'sunny' }],
          tools: responsesTools(),
        }),
        (err) => {
          assert.ok(err instanceof BadRequestError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
          t.diagnostic(`400 ${err.code}, param ${err.param}: ${err.message}`);
          assert.equal(err.status, 400);
          assert.equal(err.param, 'input[0].call_id');
          return true;
        },
      );
    });
  });
}

describe('openai SDK responses, errors', { timeout }, () => {
  test('retrieve of an unknown id is a 404', async () => {
    await assert.rejects(client.responses.retrieve('resp_0123456789abcdef0123456789abcdef'), (err) => {
      assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
      assert.equal(err.status, 404);
      return true;
    });
  });

  test('previous_response_id of an unknown id is a 404', async () => {
    await assert.rejects(
      client.responses.create({ model: models[0], previous_response_id: 'resp_0123456789abcdef0123456789abcdef', input: 'hi' }),
      (err) => {
        assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
        assert.equal(err.status, 404);
        assert.equal(err.param, 'previous_response_id');
        return true;
      },
    );
  });

  test('unknown model is NotFoundError model_not_found', async () => {
    await assert.rejects(client.responses.create({ model: 'openai/no-such-model', input: 'hi' }), (err) => {
      assert.ok(err instanceof NotFoundError, `got ${err?.constructor?.name}: ${err?.status} ${err?.message}`);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
  });
});
