// The knowledge base from the official openai SDK, as a RAG application drives
// it: files.create, vectorStores.create, vectorStores.files.createAndPoll,
// vectorStores.fileBatches.createAndPoll, vectorStores.search, and a chat
// completion with the file_search tool (whole and streamed) that cites the
// right file, and the same through the Responses API, from the openai SDK and
// from the Vercel AI SDK (openai.tools.fileSearch). The tenant embeds with echo/echo-embed-1 (words hashed into a
// vector) and chats with echo/echo-1, which answers from the best source.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { apiKey, baseURL, embeddingModels, load, timeout } from './lib.mjs';

const { OpenAI, NotFoundError, BadRequestError, toFile } = load('openai');
const { generateText, streamText } = load('ai');
const { createOpenAI } = load('@ai-sdk/openai');

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout });

const docs = {
  'travel.md': '# Travel policy\n\nEmployees book economy class for flights shorter than six hours. ' +
    'Hotel rooms are reimbursed up to two hundred euros a night. Keep every taxi receipt.',
  'warranty.txt': 'Warranty terms. The kettle is covered for twenty four months against manufacturing defects. ' +
    'Limescale damage is not covered by the warranty.',
  'garden.html': '<html><body><h1>Garden club</h1><p>The garden club meets on the first Tuesday of every month ' +
    'to swap tomato seedlings and discuss compost.</p></body></html>',
};

describe('knowledge base (openai SDK)', { skip: embeddingModels.length === 0 && 'no embedding model' }, () => {
  let ids = {};
  let store;

  test('files.create uploads each file', async () => {
    for (const [name, text] of Object.entries(docs)) {
      const f = await client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'assistants' });
      assert.equal(f.object, 'file');
      assert.equal(f.filename, name);
      assert.equal(f.bytes, Buffer.byteLength(text));
      assert.match(f.id, /^file-/);
      ids[name] = f.id;
    }
    const content = await (await client.files.content(ids['travel.md'])).text();
    assert.equal(content, docs['travel.md']);
    const listed = [];
    for await (const f of client.files.list({ purpose: 'assistants' })) listed.push(f.id);
    for (const id of Object.values(ids)) assert.ok(listed.includes(id), `files.list lacks ${id}`);
  });

  test('vectorStores.create, files.createAndPoll and fileBatches.createAndPoll ingest them', async () => {
    store = await client.vectorStores.create({ name: 'handbook', metadata: { team: 'ops' } });
    assert.equal(store.object, 'vector_store');
    assert.equal(store.name, 'handbook');
    assert.deepEqual(store.metadata, { team: 'ops' });

    const f = await client.vectorStores.files.createAndPoll(store.id,
      { file_id: ids['travel.md'], attributes: { kind: 'policy', year: 2026 } }, { pollIntervalMs: 50 });
    assert.equal(f.status, 'completed', JSON.stringify(f.last_error));
    assert.equal(f.vector_store_id, store.id);
    assert.deepEqual(f.attributes, { kind: 'policy', year: 2026 });
    assert.equal(f.chunking_strategy.type, 'static');
    assert.equal(f.chunking_strategy.static.max_chunk_size_tokens, 800);

    const batch = await client.vectorStores.fileBatches.createAndPoll(store.id,
      { file_ids: [ids['warranty.txt'], ids['garden.html']], attributes: { kind: 'other' } }, { pollIntervalMs: 50 });
    assert.equal(batch.object, 'vector_store.files_batch');
    assert.equal(batch.status, 'completed');
    assert.equal(batch.file_counts.completed, 2);

    const got = await client.vectorStores.retrieve(store.id);
    assert.equal(got.status, 'completed');
    assert.equal(got.file_counts.completed, 3);
    assert.equal(got.file_counts.total, 3);
    assert.ok(got.usage_bytes > 0);
    const files = [];
    for await (const vf of client.vectorStores.files.list(store.id, { filter: 'completed' })) files.push(vf.id);
    assert.equal(files.length, 3);
  });

  test('vectorStores.search finds the right file first, and filters on attributes', async () => {
    const page = await client.vectorStores.search(store.id, { query: 'how much is a hotel room per night', max_num_results: 3 });
    const hits = page.data;
    assert.ok(hits.length > 0, 'no result');
    assert.equal(hits[0].file_id, ids['travel.md']);
    assert.equal(hits[0].filename, 'travel.md');
    assert.equal(hits[0].content[0].type, 'text');
    assert.match(hits[0].content[0].text, /two hundred euros/);
    assert.deepEqual(hits[0].attributes, { kind: 'policy', year: 2026 });

    const filtered = await client.vectorStores.search(store.id, {
      query: 'how much is a hotel room per night',
      filters: { type: 'eq', key: 'kind', value: 'other' },
    });
    assert.ok(filtered.data.every((h) => h.attributes.kind === 'other'), JSON.stringify(filtered.data));

    await assert.rejects(client.vectorStores.search(store.id, { query: 'x', filters: { type: 'like', key: 'kind', value: 'a' } }),
      (e) => e instanceof BadRequestError && e.param === 'filters');
    await assert.rejects(client.vectorStores.search('vs_00000000000000000000000000aa', { query: 'x' }),
      (e) => e instanceof NotFoundError);
  });

  test('chat completions with file_search answer citing the file', async () => {
    const tools = [{ type: 'file_search', vector_store_ids: [store.id], max_num_results: 2 }];
    const messages = [{ role: 'user', content: 'Which day does the garden club meet?' }];
    const res = await client.chat.completions.create({ model: 'echo/echo-1', messages, tools });
    const msg = res.choices[0].message;
    assert.match(msg.content, /\[1\]/);
    assert.match(msg.content, /first Tuesday/);
    assert.equal(msg.annotations?.[0]?.type, 'file_citation', JSON.stringify(msg));
    assert.equal(msg.annotations[0].file_citation.file_id, ids['garden.html']);
    assert.equal(msg.annotations[0].file_citation.filename, 'garden.html');

    const stream = await client.chat.completions.create({ model: 'echo/echo-1', messages, tools, stream: true });
    let text = '';
    let annotations = [];
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta;
      text += d?.content ?? '';
      annotations = annotations.concat(d?.annotations ?? []);
    }
    assert.match(text, /first Tuesday/);
    assert.equal(annotations[0]?.file_citation?.file_id, ids['garden.html'], JSON.stringify(annotations));
  });

  test('responses with file_search: a file_search_call, then an answer whose annotations cite the file', async () => {
    const tools = [{ type: 'file_search', vector_store_ids: [store.id], max_num_results: 2 }];
    const input = 'Which day does the garden club meet?';
    const res = await client.responses.create({ model: 'echo/echo-1', input, tools, include: ['file_search_call.results'] });
    assert.equal(res.output[0].type, 'file_search_call', JSON.stringify(res.output));
    assert.equal(res.output[0].status, 'completed');
    assert.deepEqual(res.output[0].queries, [input]);
    assert.equal(res.output[0].results[0].file_id, ids['garden.html'], JSON.stringify(res.output[0].results));
    assert.match(res.output[0].results[0].text, /first Tuesday/);
    assert.equal(res.tools[0].type, 'file_search');
    assert.deepEqual(res.tools[0].vector_store_ids, [store.id]);
    const part = res.output[1].content[0];
    assert.match(part.text, /first Tuesday/);
    assert.deepEqual(part.annotations[0], { type: 'file_citation', file_id: ids['garden.html'], filename: 'garden.html', index: part.text.indexOf('[1]') });
    assert.match(res.output_text, /first Tuesday/);

    // Streamed: the search's events, then the text and its annotation.
    const seen = [];
    let annotation;
    let completed;
    for await (const ev of await client.responses.create({ model: 'echo/echo-1', input, tools, stream: true })) {
      seen.push(ev.type);
      if (ev.type === 'response.output_text.annotation.added') annotation = ev.annotation;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    for (const t of ['response.file_search_call.in_progress', 'response.file_search_call.searching', 'response.file_search_call.completed']) {
      assert.ok(seen.includes(t), `no ${t} in ${seen.join(',')}`);
    }
    assert.ok(seen.indexOf('response.file_search_call.completed') < seen.indexOf('response.output_text.delta'));
    assert.equal(annotation?.file_id, ids['garden.html'], JSON.stringify(annotation));
    assert.equal(completed.output[0].results, null, 'results without include');
    assert.equal(completed.output[1].content[0].annotations[0].file_id, ids['garden.html']);

    // A conversation continued with the earlier output sent back (store
    // false): the file_search_call item is taken, and searched afresh.
    const again = await client.responses.create({ model: 'echo/echo-1', store: false, tools,
      input: [{ role: 'user', content: input }, ...res.output, { role: 'user', content: 'What do they swap there?' }] });
    assert.equal(again.output[0].type, 'file_search_call');
    assert.match(again.output_text, /tomato seedlings/);
  });

  test('the AI SDK (Responses model) with openai.tools.fileSearch: sources name the file', async () => {
    const provider = createOpenAI({ baseURL, apiKey });
    const tools = { file_search: provider.tools.fileSearch({ vectorStoreIds: [store.id], maxNumResults: 2 }) };
    const prompt = 'How long is the kettle covered against manufacturing defects?';
    const r = await generateText({ model: provider('echo/echo-1'), prompt, tools });
    assert.match(r.text, /twenty four months/);
    const call = r.toolCalls.find((c) => c.toolName === 'file_search');
    assert.ok(call?.providerExecuted, JSON.stringify(r.toolCalls));
    const src = r.sources.find((s) => s.sourceType === 'document');
    assert.ok(src, JSON.stringify(r.sources));
    assert.equal(src.filename ?? src.title, 'warranty.txt', JSON.stringify(src));

    const st = streamText({ model: provider('echo/echo-1'), prompt, tools });
    let text = '';
    const sources = [];
    for await (const p of st.fullStream) {
      if (p.type === 'text-delta') text += p.text;
      if (p.type === 'source') sources.push(p);
      if (p.type === 'error') throw p.error;
    }
    assert.match(text, /twenty four months/);
    assert.ok(sources.some((s) => (s.filename ?? s.title) === 'warranty.txt'), JSON.stringify(sources));
  });

  test('deleting the store and the files', async () => {
    const del = await client.vectorStores.delete(store.id);
    assert.equal(del.deleted, true);
    await assert.rejects(client.vectorStores.retrieve(store.id), (e) => e instanceof NotFoundError);
    for (const id of Object.values(ids)) {
      const d = await client.files.delete(id);
      assert.equal(d.deleted, true);
    }
    await assert.rejects(client.files.retrieve(ids['travel.md']), (e) => e instanceof NotFoundError);
  });
});
