// Text to token ids and back, read from and written to Hugging Face's
// tokenizer.json. The lab trains a word-level vocabulary (lower-cased words
// and single punctuation marks), so that topic words are single tokens;
// the file is a standard WordLevel tokenizer.json that the `tokenizers`
// library loads too, with a tokenizer_config.json whose chat template
// renders the prompt EncodeChatPrompt builds. A byte-level BPE
// tokenizer.json (real Llama 3 / Qwen2 checkpoints) loads through the same
// Load() and encodes with BpeTokenizer; its prompts are rendered with the
// model's own chat template (hf/chat_template.h) from chat_template.jinja or
// tokenizer_config.json beside it.
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
#include "hf/chat_template.h"

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
  // Also reads the chat template (chat_template.jinja, else
  // tokenizer_config.json's "chat_template") and the BOS/EOS tokens beside
  // the file; INVALID_ARGUMENT when the template does not parse.
  static absl::StatusOr<Tokenizer> Load(const std::string& tokenizer_json_path);
  // Writes tokenizer.json and tokenizer_config.json (with the chat template).
  absl::Status Save(const std::string& directory) const;

  std::vector<int64_t> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int64_t>& ids) const;
  // The generation prompt for a system and a user message: for a BPE
  // tokenizer, the model's chat template rendered as apply_chat_template
  // does (add_generation_prompt); a template that refuses a system turn
  // (Gemma, Mistral) gets the system text at the head of the user turn, as
  // is usual for those models. Without a template: ChatML (Qwen2) or Llama 3
  // headers when the vocabulary has those tokens, else plain text. The lab's
  // tokenizer: <|system|> system <|user|> user <|assistant|>.
  // FAILED_PRECONDITION or INVALID_ARGUMENT when the template refuses.
  absl::StatusOr<std::vector<int64_t>> EncodeChatPrompt(std::string_view system,
                                                        std::string_view user) const;
  // Where the prompt format comes from, for reports and logs.
  std::string chat_format() const;

  int64_t vocab_size() const {
    return bpe_ ? bpe_->vocab_size() : static_cast<int64_t>(words_.size());
  }
  bool is_bpe() const { return bpe_.has_value(); }
  // The token that ends an answer: the lab's <eos>; for BPE the model's
  // eos_token (tokenizer_config.json), else the first of <|im_end|>,
  // <|eot_id|>, <|endoftext|>, <|end_of_text|> the vocabulary has. nullopt
  // when none: generation runs to its token limit.
  std::optional<int64_t> end_of_answer_id() const;
  // Share of `ids` that are the unknown token: text a word-level vocabulary
  // does not cover. 0 for byte-level BPE, which spells out any text.
  double UnknownShare(const std::vector<int64_t>& ids) const;
  std::string_view word(int64_t id) const { return words_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& words() const { return words_; }

  // Lower-cased words and single punctuation marks, as both directions use.
  static std::vector<std::string> Split(std::string_view text);

 private:
  std::vector<std::string> words_;
  std::map<std::string, int64_t, std::less<>> ids_;
  absl::Status ReadChatTemplate(const std::string& directory);

  std::optional<BpeTokenizer> bpe_;  // Set for a BPE tokenizer.json.
  std::optional<ChatTemplate> chat_template_;
  std::string chat_template_source_;  // The file it came from.
  std::string bos_token_, eos_token_;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_HF_TOKENIZER_H_
