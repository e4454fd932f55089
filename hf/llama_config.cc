#include "hf/llama_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"

namespace gauntlet::eval {

absl::StatusOr<LlamaConfig> LlamaConfig::FromJson(std::string_view json) {
  auto root = nlohmann::json::parse(json, nullptr, false);
  if (root.is_discarded() || !root.is_object())
    return absl::InvalidArgumentError("config.json is not a JSON object");
  LlamaConfig c;
  c.model_type = root.value("model_type", "llama");
  if (c.model_type != "llama" && c.model_type != "qwen2")
    return absl::InvalidArgumentError(
        StrCat("model_type '", c.model_type, "' is not a Llama or Qwen2 decoder"));
  auto required = [&](const char* key, int64_t& out) -> absl::Status {
    if (!root.contains(key) || !root[key].is_number_integer() || root[key].get<int64_t>() <= 0)
      return absl::InvalidArgumentError(StrCat("config.json needs a positive integer '", key, "'"));
    out = root[key].get<int64_t>();
    return absl::OkStatus();
  };
  for (auto [key, field] : {std::pair{"vocab_size", &c.vocab_size},
                            {"hidden_size", &c.hidden_size},
                            {"intermediate_size", &c.intermediate_size},
                            {"num_hidden_layers", &c.num_hidden_layers},
                            {"num_attention_heads", &c.num_attention_heads}}) {
    if (auto status = required(key, *field); !status.ok()) return status;
  }
  c.num_key_value_heads = root.value("num_key_value_heads", c.num_attention_heads);
  c.head_dim = root.contains("head_dim") && root["head_dim"].is_number_integer()
                   ? root["head_dim"].get<int64_t>()
                   : c.hidden_size / c.num_attention_heads;
  c.rms_norm_eps = root.value("rms_norm_eps", 1e-6);
  c.rope_theta = root.value("rope_theta", 10000.0);
  if (root.contains("rope_parameters") && root["rope_parameters"].is_object())
    c.rope_theta = root["rope_parameters"].value("rope_theta", c.rope_theta);
  c.max_position_embeddings = root.value("max_position_embeddings", int64_t{2048});
  c.tie_word_embeddings = root.value("tie_word_embeddings", false);
  c.attention_bias = root.value("attention_bias", c.model_type == "qwen2");
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads != 0)
    return absl::InvalidArgumentError(
        "num_attention_heads must be a multiple of num_key_value_heads");
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    return absl::InvalidArgumentError("head_dim must be positive and even (RoPE rotates pairs)");
  return c;
}

absl::StatusOr<LlamaConfig> LlamaConfig::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto config = FromJson(text.str());
  if (!config.ok())
    return absl::InvalidArgumentError(StrCat(path, ": ", config.status().message()));
  return config;
}

std::string LlamaConfig::ToJson() const {
  nlohmann::ordered_json root = {
      {"architectures", {model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", model_type},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"hidden_act", "silu"},
      {"rms_norm_eps", rms_norm_eps},
      {"rope_theta", rope_theta},
      {"max_position_embeddings", max_position_embeddings},
      {"tie_word_embeddings", tie_word_embeddings},
      {"attention_bias", attention_bias},
      {"torch_dtype", "float32"}};
  return root.dump(2) + "\n";
}

}  // namespace gauntlet::eval
