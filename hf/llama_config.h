// The Hugging Face config.json of a Llama or Qwen2 decoder, the fields the
// model needs. No torch here, so reading a config stays cheap.
#ifndef GAUNTLET_HF_LLAMA_CONFIG_H_
#define GAUNTLET_HF_LLAMA_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

struct LlamaConfig {
  std::string model_type = "llama";  // "llama" or "qwen2".
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // < num_attention_heads: grouped-query attention.
  int64_t head_dim = 0;             // Default hidden_size / num_attention_heads.
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // Qwen2: q/k/v carry a bias.

  // InvalidArgument naming the missing or inconsistent field.
  static absl::StatusOr<LlamaConfig> FromJson(std::string_view json);
  static absl::StatusOr<LlamaConfig> Load(const std::string& path);
  std::string ToJson() const;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_HF_LLAMA_CONFIG_H_
