// Drives a SharpInfer server with the official `openai` npm package, changing nothing but the base URL, and
// prints one JSON object of what the client saw; NodeClientTests asserts on it.
// Usage: node client.mjs <baseURL> <apiKey> [<baseURL of a server whose queue is always full>]
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const [baseURL, apiKey, fullQueueBaseURL] = process.argv.slice(2);
if (!baseURL || !apiKey) {
  console.error('usage: node client.mjs <baseURL> <apiKey> [<fullQueueBaseURL>]');
  process.exit(2);
}

// No retries: a refusal must reach the test as the SDK's error, not be retried away.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const model = 'stories260K';
const results = { sdkVersion: VERSION };

function describeError(error) {
  return {
    isApiError: error instanceof OpenAI.APIError,
    className: error.constructor.name,
    status: error.status ?? null,
    type: error.type ?? null,
    code: error.code ?? null,
    param: error.param ?? null,
    message: error.message,
    requestId: error.requestID ?? null,
    retryAfter: error.headers?.get('retry-after') ?? null,
    retryAfterMs: error.headers?.get('retry-after-ms') ?? null,
  };
}

/** Runs a request that must fail; returns what the SDK threw, or a marker when it did not throw. */
async function expectError(request) {
  try {
    await request();
    return { thrown: false };
  } catch (error) {
    return { thrown: true, ...describeError(error) };
  }
}

const messages = [{ role: 'user', content: 'Tell me a story.' }];

const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
results.chat = {
  id: chat.id,
  object: chat.object,
  model: chat.model,
  requestId: chat._request_id ?? null,
  hasSystemFingerprint: 'system_fingerprint' in chat,
  choices: chat.choices.map((c) => ({
    index: c.index,
    role: c.message.role,
    content: c.message.content,
    refusal: c.message.refusal,
    finishReason: c.finish_reason,
    logprobs: c.logprobs,
  })),
  usage: chat.usage,
};

const chatStream = await client.chat.completions.create({
  model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
});
const streamedChat = { chunks: 0, objects: [], roles: [], content: '', finishReasons: [], usage: null, ids: [] };
for await (const chunk of chatStream) {
  streamedChat.chunks++;
  if (!streamedChat.objects.includes(chunk.object)) streamedChat.objects.push(chunk.object);
  if (!streamedChat.ids.includes(chunk.id)) streamedChat.ids.push(chunk.id);
  for (const choice of chunk.choices) {
    if (choice.delta.role) streamedChat.roles.push(choice.delta.role);
    if (choice.delta.content) streamedChat.content += choice.delta.content;
    if (choice.finish_reason) streamedChat.finishReasons.push(choice.finish_reason);
  }
  if (chunk.usage) streamedChat.usage = chunk.usage;
}
results.chatStream = streamedChat;

const completion = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
results.completion = {
  id: completion.id,
  object: completion.object,
  text: completion.choices[0].text,
  finishReason: completion.choices[0].finish_reason,
  logprobs: completion.choices[0].logprobs,
  usage: completion.usage,
};

const completionStream = await client.completions.create({
  model, prompt: 'Once upon a time', max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true },
});
const streamedCompletion = { chunks: 0, objects: [], text: '', finishReasons: [], usage: null };
for await (const chunk of completionStream) {
  streamedCompletion.chunks++;
  if (!streamedCompletion.objects.includes(chunk.object)) streamedCompletion.objects.push(chunk.object);
  for (const choice of chunk.choices) {
    streamedCompletion.text += choice.text;
    if (choice.finish_reason) streamedCompletion.finishReasons.push(choice.finish_reason);
  }
  if (chunk.usage) streamedCompletion.usage = chunk.usage;
}
results.completionStream = streamedCompletion;

const modelIds = [];
for await (const card of client.models.list()) modelIds.push({ id: card.id, object: card.object, ownedBy: card.owned_by });
results.models = modelIds;
const retrieved = await client.models.retrieve(model);
results.retrievedModel = { id: retrieved.id, object: retrieved.object };

results.errors = {
  maxTokensOverLimit: await expectError(() =>
    client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 1_000_000 })),
  maxTokensOverLimitStreamed: await expectError(async () => {
    const stream = await client.chat.completions.create({ model, messages, max_tokens: 1_000_000, stream: true });
    for await (const _ of stream) { /* the refusal comes before the first event */ }
  }),
  wrongApiKey: await expectError(() =>
    new OpenAI({ baseURL, apiKey: 'sk-not-a-key', maxRetries: 0 }).chat.completions.create({ model, messages, max_tokens: 2 })),
  unknownModel: await expectError(() =>
    client.chat.completions.create({ model: 'gpt-4o', messages, max_tokens: 2 })),
};
if (fullQueueBaseURL) {
  results.errors.fullQueue = await expectError(() =>
    new OpenAI({ baseURL: fullQueueBaseURL, apiKey: 'unused', maxRetries: 0 }).completions.create({ model, prompt: 'hi', max_tokens: 2 }));
}

console.log(JSON.stringify(results));
