// The official Node SDK (`openai` from npm) against a running gateway: a plain reply, a
// stream, streamed parallel tool calls through the stream helper, a tool round trip and a
// typed error. Prints one JSON object of what it saw; tests/e2e/test_client_node.py asserts.
//
//   GATEWAY_BASE=http://127.0.0.1:8080 node openai_client.mjs   (openai installed next to it)
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.GATEWAY_BASE}/v1`,
  apiKey: "unused",
  maxRetries: 0,
  timeout: 20_000,
});
const user = (content) => [{ role: "user", content }];
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" } },
      required: ["city"],
    },
  },
};

const seen = {};

const reply = await client.chat.completions.create({ model: "fast", messages: user("hi node") });
seen.create = { content: reply.choices[0].message.content, model: reply.model };

const stream = await client.chat.completions.create({
  model: "script/split-2",
  messages: user("streamed from node"),
  stream: true,
  stream_options: { include_usage: true },
});
const pieces = [];
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length) pieces.push(chunk.choices[0].delta.content ?? "");
  if (chunk.usage) usage = chunk.usage;
}
seen.stream = { pieces: pieces.length, text: pieces.join(""), usage };

// The stream helper moved out of `beta` in v5; Node 18 (Debian 12's) runs v4.
const streamHelper = client.chat.completions.stream
  ? (body) => client.chat.completions.stream(body)
  : (body) => client.beta.chat.completions.stream(body);
const runner = streamHelper({
  model: "script/tools-2",
  messages: user("weather"),
  tools: [weatherTool],
});
const argumentsDone = [];
runner.on("tool_calls.function.arguments.done", (event) =>
  argumentsDone.push({ index: event.index, name: event.name, arguments: event.arguments }),
);
const streamed = await runner.finalChatCompletion();
seen.streamedTools = {
  finish: streamed.choices[0].finish_reason,
  calls: streamed.choices[0].message.tool_calls.map((c) => ({
    id: c.id,
    name: c.function.name,
    arguments: JSON.parse(c.function.arguments),
  })),
  argumentsDone,
};

const messages = user("Oslo");
const first = await client.chat.completions.create({
  model: "script/agent",
  messages,
  tools: [weatherTool],
});
const call = first.choices[0].message.tool_calls[0];
messages.push(first.choices[0].message, {
  role: "tool",
  tool_call_id: call.id,
  content: "snow, -3C",
});
const second = await client.chat.completions.create({
  model: "script/agent",
  messages,
  tools: [weatherTool],
});
seen.roundTrip = {
  call: { name: call.function.name, arguments: JSON.parse(call.function.arguments) },
  answer: second.choices[0].message.content,
};

try {
  await client.chat.completions.create({ model: "script/error-429", messages: user("x") });
  seen.error = null;
} catch (error) {
  seen.error = {
    rateLimit: error instanceof OpenAI.RateLimitError,
    status: error.status,
    type: error.type,
  };
}

console.log(JSON.stringify(seen));
