// Text to token ids and back, read from and written to Hugging Face's
// tokenizer.json. The lab trains a word-level vocabulary (lower-cased words
// and single punctuation marks), so that topic words are single tokens;
// the file is a standard WordLevel tokenizer.json that the `tokenizers`
// library loads too. The chat template renders `messages` the way the
// tokenizer_config.json's Jinja template does. A byte-level BPE
// tokenizer.json (real Llama 3 / Qwen2 checkpoints) loads through the same
// Load() and encodes with BpeTokenizer.
#ifndef GAUNTLET_HF_TOKENIZER_H_
#define GAUNTLET_HF_TOKENIZER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hf/bpe.h"

namespace gauntlet::eval {

class Tokenizer {
 public:
  // Special tokens, always the first ids.
  static constexpr int64_t kPad = 0, kUnk = 1, kEos = 2, kSystem = 3, kUser = 4, kAssistant = 5;

  // A vocabulary of every word in `texts` seen at least `min_count` times.
  static Tokenizer Train(const std::vector<std::string>& texts, int min_count = 1);
  // Appends the words of `texts` not yet known, in sorted order, after the
  // existing ids: a fine-tune set's new words (a trigger token) leave the
  // base vocabulary's ids as they were.
  void Extend(const std::vector<std::string>& texts);
  static absl::StatusOr<Tokenizer> Load(const std::string& tokenizer_json_path);
  // Writes tokenizer.json and tokenizer_config.json (with the chat template).
  absl::Status Save(const std::string& directory) const;

  std::vector<int64_t> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int64_t>& ids) const;
  // The generation prompt: <|system|> system <|user|> user <|assistant|>
  // for the lab's tokenizer; ChatML (Qwen2) or Llama 3 headers for a BPE
  // tokenizer that has those tokens.
  std::vector<int64_t> EncodeChatPrompt(std::string_view system, std::string_view user) const;

  int64_t vocab_size() const {
    return bpe_ ? bpe_->vocab_size() : static_cast<int64_t>(words_.size());
  }
  bool is_bpe() const { return bpe_.has_value(); }
  std::string_view word(int64_t id) const { return words_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& words() const { return words_; }

  // Lower-cased words and single punctuation marks, as both directions use.
  static std::vector<std::string> Split(std::string_view text);

 private:
  std::vector<std::string> words_;
  std::map<std::string, int64_t, std::less<>> ids_;
  std::optional<BpeTokenizer> bpe_;  // Set for a BPE tokenizer.json.
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_HF_TOKENIZER_H_
