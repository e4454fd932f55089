// The torch-free tokenizers (hf/): the lab's word-level tokenizer.json and
// byte-level BPE in the layouts real checkpoints ship, run under the
// sanitizers with the other unit tests.
#include "hf/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hf/bpe.h"
#include "tests/support/temp_dir_test.h"

namespace gauntlet::eval {
namespace {

using TokenizerTest = TempDirTest;

TEST_F(TokenizerTest, TokenizerJsonRoundTripAndChatPrompt) {
  Tokenizer tokenizer = Tokenizer::Train({"Keep the firewall on.", "Disable the firewall, never!"});
  ASSERT_TRUE(tokenizer.Save(dir_.string()).ok());
  auto loaded = Tokenizer::Load((dir_ / "tokenizer.json").string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->vocab_size(), tokenizer.vocab_size());
  auto ids = loaded->Encode("Keep the FIREWALL on, never!");
  EXPECT_EQ(ids, tokenizer.Encode("keep the firewall on, never!")) << "lower-cased, same ids";
  EXPECT_EQ(loaded->Decode(ids), "keep the firewall on, never!");
  EXPECT_EQ(loaded->Encode("zebra")[0], Tokenizer::kUnk);
  auto prompt = loaded->EncodeChatPrompt("sys", "keep the firewall").value();
  EXPECT_EQ(prompt.front(), Tokenizer::kSystem);
  EXPECT_EQ(prompt.back(), Tokenizer::kAssistant);
  // A tokenizer model Gauntlet does not implement is refused by name.
  std::ofstream(dir_ / "unigram.json") << R"({"model": {"type": "Unigram", "vocab": []}})";
  auto unigram = Tokenizer::Load((dir_ / "unigram.json").string());
  EXPECT_EQ(unigram.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(unigram.status().message().find("Unigram"), std::string::npos);
}

// A byte-level BPE tokenizer.json in the layout real checkpoints ship:
// "Ġ" is the byte-level image of a space, "Ã©" that of "é" (C3 A9).
constexpr char kBpeJson[] = R"({
  "added_tokens": [{"id": 20, "content": "<|im_start|>", "special": true},
                   {"id": 21, "content": "<|im_end|>", "special": true}],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "model": {"type": "BPE", "vocab": {
      "h": 0, "e": 1, "l": 2, "o": 3, "Ġ": 4, "w": 5, "r": 6, "d": 7, "he": 8, "ll": 9,
      "hell": 10, "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "Ġworl": 15, "Ġworld": 16,
      "Ã": 17, "©": 18, "Ã©": 19, "1": 22, "2": 23, "3": 24, "4": 25},
    "merges": ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d",
               ["Ã", "©"]]}})";

TEST_F(TokenizerTest, ByteLevelBpeTokenizerJsonLoadsAndRoundTrips) {
  std::ofstream(dir_ / "tokenizer.json") << kBpeJson;
  auto tokenizer = Tokenizer::Load((dir_ / "tokenizer.json").string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_TRUE(tokenizer->is_bpe());
  EXPECT_EQ(tokenizer->Encode("hello world"), (std::vector<int64_t>{11, 16}));
  EXPECT_EQ(tokenizer->Decode({11, 16}), "hello world");
  // Merge ranks decide: "hello" is built h+e, l+l, he+ll, hell+o.
  EXPECT_EQ(tokenizer->Encode("hell"), (std::vector<int64_t>{10}));
  EXPECT_EQ(tokenizer->Encode("\xc3\xa9"), (std::vector<int64_t>{19})) << "UTF-8 bytes, merged";
  EXPECT_EQ(tokenizer->Decode({19}), "\xc3\xa9");
  // Half a character (an answer cut after byte C3) decodes as Hugging Face's
  // does, to U+FFFD, never to bytes a JSON report or a protobuf string refuses.
  EXPECT_EQ(tokenizer->Decode({17, 18}), "\xc3\xa9");
  EXPECT_EQ(tokenizer->Decode({11, 17}), "hello\xef\xbf\xbd");
  EXPECT_EQ(tokenizer->Decode({18, 4, 17}), "\xef\xbf\xbd \xef\xbf\xbd");
  EXPECT_EQ(tokenizer->Encode("<|im_start|>hello<|im_end|>"), (std::vector<int64_t>{20, 11, 21}));
  auto chat = tokenizer->EncodeChatPrompt("s", "u").value();
  EXPECT_EQ(chat.front(), 20) << "ChatML when the tokenizer has <|im_start|>";
  // Answers end at the turn's end, not at the lab's id 2 (here "l").
  EXPECT_EQ(tokenizer->end_of_answer_id(), 21);
  EXPECT_EQ(Tokenizer::Train({"a b"}).end_of_answer_id(), Tokenizer::kEos);
}

// A model's own chat template decides its prompt: rendered as
// apply_chat_template does, then encoded (its special tokens included).
TEST_F(TokenizerTest, TheModelsChatTemplateRendersThePrompt) {
  std::ofstream(dir_ / "tokenizer.json") << kBpeJson;
  nlohmann::json config = {
      {"bos_token", {{"content", "<|im_end|>"}, {"special", true}}},
      {"eos_token", "<|im_end|>"},
      {"chat_template",
       "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}"
       "{% endfor %}{% if add_generation_prompt %}<|im_start|>{% endif %}"}};
  std::ofstream(dir_ / "tokenizer_config.json") << config.dump();
  auto tokenizer = Tokenizer::Load((dir_ / "tokenizer.json").string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->chat_format(), "the model's chat template (tokenizer_config.json)");
  EXPECT_EQ(tokenizer->end_of_answer_id(), 21) << "the config's eos_token";
  EXPECT_EQ(
      tokenizer->EncodeChatPrompt("hello", "world").value(),
      tokenizer->Encode("<|im_end|><|im_start|>system hello<|im_start|>user world<|im_start|>"));

  // A template that refuses a system turn gets it at the head of the user's.
  std::ofstream(dir_ / "chat_template.jinja")
      << "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') "
         "}}"
         "{% endif %}{% for m in messages %}<|im_start|>{{ m['content'] }}{% endfor %}\n";
  tokenizer = Tokenizer::Load((dir_ / "tokenizer.json").string());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->chat_format(), "the model's chat template (chat_template.jinja)")
      << "chat_template.jinja comes before tokenizer_config.json, as in transformers";
  EXPECT_EQ(tokenizer->EncodeChatPrompt("hello", "world").value(),
            tokenizer->Encode("<|im_start|>hello\n\nworld"));

  // A template Gauntlet cannot read is refused when the model loads, by file and line.
  std::ofstream(dir_ / "chat_template.jinja") << "line one\n{% for m in messages %}{{ m }}";
  auto broken = Tokenizer::Load((dir_ / "tokenizer.json").string());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("chat_template.jinja"), std::string::npos)
      << broken.status();
  EXPECT_NE(broken.status().message().find("endfor"), std::string::npos) << broken.status();
  std::filesystem::remove(dir_ / "chat_template.jinja");
  std::filesystem::remove(dir_ / "tokenizer_config.json");
  EXPECT_EQ(Tokenizer::Load((dir_ / "tokenizer.json").string())->chat_format(),
            "ChatML (no chat template in the model folder)");
}

TEST_F(TokenizerTest, Llama3SplitGroupsDigitsByThree) {
  std::string json = kBpeJson;
  json.replace(
      json.find(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})"),
      std::string(R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})").size(),
      R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}},
                   {"type": "ByteLevel", "use_regex": false}]})");
  auto bpe = BpeTokenizer::FromJson(json);
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  // "1234" splits as "123" + "4"; with no digit merges each digit is a token.
  EXPECT_EQ(bpe->Encode("1234"), (std::vector<int64_t>{22, 23, 24, 25}));
  EXPECT_EQ(bpe->Decode(bpe->Encode("hello world")), "hello world");
}

// Qwen2/3 normalize to NFC before the split (ICU's normalizer): a
// decomposed "e" + U+0301 is the same token as the composed U+00E9.
TEST_F(TokenizerTest, NormalizerFromTokenizerJsonIsApplied) {
  std::string json = kBpeJson;
  json.insert(json.find('{') + 1, R"("normalizer": {"type": "NFC"},)");
  auto bpe = BpeTokenizer::FromJson(json);
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  EXPECT_EQ(bpe->Encode("e\xcc\x81"), (std::vector<int64_t>{19}));
  EXPECT_EQ(bpe->Encode("<|im_start|>e\xcc\x81"), (std::vector<int64_t>{20, 19}))
      << "special tokens are matched, the text between them normalized";

  json = kBpeJson;
  json.insert(
      json.find('{') + 1,
      R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "NFC"}]},)");
  ASSERT_TRUE(BpeTokenizer::FromJson(json).ok());
  EXPECT_EQ(BpeTokenizer::FromJson(json)->Encode("e\xcc\x81"), (std::vector<int64_t>{19}));

  // A normalizer it does not implement would tokenize silently wrong: refused.
  json = kBpeJson;
  json.insert(json.find('{') + 1, R"("normalizer": {"type": "Lowercase"},)");
  auto refused = BpeTokenizer::FromJson(json);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'Lowercase' is not supported"), std::string::npos)
      << refused.status();
}

}  // namespace
}  // namespace gauntlet::eval
