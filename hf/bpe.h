// Byte-level BPE, the tokenizer model of real Llama 3, Qwen2 and GPT-2
// style checkpoints, read from their Hugging Face tokenizer.json: added
// tokens matched first, the pre-tokenizer's split (GPT-2's ByteLevel regex,
// or the Llama 3 / Qwen2 Split regex), bytes mapped to printable characters,
// then merges applied by rank.
//
// The regexes are hand-written scanners over ICU's Unicode classes (\p{L},
// \p{N}, \s as Oniguruma, the Rust library's regex engine, defines it), and
// the Unicode normalizers (Qwen's NFC) are ICU's. Checked id for id against
// transformers.js on Qwen3's and Llama 3's vocabularies
// (tests/reference/tokenizer_reference_test.mjs).
#ifndef GAUNTLET_HF_BPE_H_
#define GAUNTLET_HF_BPE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

class BpeTokenizer {
 public:
  // The Unicode normalization forms tokenizer.json's normalizer may ask for.
  enum class Normalization { kNFC, kNFD, kNFKC, kNFKD };

  // `tokenizer_json` is the text of a tokenizer.json whose model is BPE.
  static absl::StatusOr<BpeTokenizer> FromJson(std::string_view tokenizer_json);

  std::vector<int64_t> Encode(std::string_view text) const;
  // UTF-8 text; bytes that do not form characters become U+FFFD.
  std::string Decode(const std::vector<int64_t>& ids) const;
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  std::optional<int64_t> TokenId(std::string_view token) const;

 private:
  enum class Split { kGpt2, kLlama3 };
  std::string Normalize(std::string_view text) const;
  std::vector<std::string> PreTokenize(std::string_view text) const;
  void EncodePiece(std::string_view piece, std::vector<int64_t>& out) const;

  Split split_ = Split::kGpt2;
  std::vector<Normalization> normalizers_;  // Applied in order before the split.
  size_t max_digits_ = 1;                   // Llama 3 groups up to 3 digits, Qwen2 one.
  bool ignore_merges_ = false;              // A piece already in the vocabulary is one token.
  std::map<std::string, int64_t, std::less<>> vocab_;
  std::vector<std::string> tokens_;  // By id.
  std::map<std::pair<std::string, std::string>, int> merge_rank_;
  std::vector<std::pair<std::string, int64_t>> added_;  // Longest first.
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_HF_BPE_H_
