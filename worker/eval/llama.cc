#include "worker/eval/llama.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/strings.h"

namespace gauntlet::eval {

// ---------------------------------------------------------------- LoRA linear

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}));
}

torch::Tensor LoraLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::nn::functional::linear(x, weight, bias);
  if (!has_lora() || !lora_enabled) return y;
  torch::Tensor h = dropout > 0 && is_training() ? torch::dropout(x, dropout, true) : x;
  return y + scale * torch::matmul(torch::matmul(h, lora_a.t()), lora_b.t());
}

void LoraLinearImpl::AttachLora(int64_t rank, double lora_scale, double lora_dropout) {
  DetachLora();
  lora_a = register_parameter("lora_A", torch::empty({rank, weight.size(1)}));
  torch::nn::init::kaiming_uniform_(lora_a, std::sqrt(5.0));
  lora_b = register_parameter("lora_B", torch::zeros({weight.size(0), rank}));
  scale = lora_scale;
  dropout = lora_dropout;
}

void LoraLinearImpl::DetachLora() {
  if (!has_lora()) return;
  // Module has no unregister: rebuild the parameter table without them.
  auto& params = const_cast<torch::OrderedDict<std::string, torch::Tensor>&>(parameters_);
  params.erase("lora_A");
  params.erase("lora_B");
  lora_a = lora_b = torch::Tensor();
}

void LoraLinearImpl::Merge() {
  if (!has_lora()) return;
  torch::NoGradGuard no_grad;
  weight.add_(scale * torch::matmul(lora_b, lora_a));
  DetachLora();
}

// ---------------------------------------------------------------- pieces

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * torch::rsqrt(variance + eps) * weight;
}

std::pair<torch::Tensor, torch::Tensor> RopeCosSin(const torch::Tensor& positions, int64_t head_dim,
                                                   double theta) {
  torch::Tensor inv_freq =
      1.0 /
      torch::pow(theta, torch::arange(0, head_dim, 2, positions.options().dtype(torch::kFloat64)) /
                            head_dim);
  torch::Tensor freqs = positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq;  // [B, T, hd/2]
  torch::Tensor angles = torch::cat({freqs, freqs}, -1).unsqueeze(1);            // [B, 1, T, hd]
  return {angles.cos().to(torch::kFloat32), angles.sin().to(torch::kFloat32)};
}

torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos,
                        const torch::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  torch::Tensor rotated = torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// ---------------------------------------------------------------- model

LlamaImpl::LlamaImpl(LlamaConfig config) : config_(std::move(config)) {
  const LlamaConfig& c = config_;
  embed_tokens_ =
      register_parameter("embed_tokens", torch::randn({c.vocab_size, c.hidden_size}) * 0.02);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    Layer layer;
    std::string prefix = StrCat("layer", i, "_");
    layer.input_norm = register_parameter(prefix + "input_norm", torch::ones({c.hidden_size}));
    layer.post_attention_norm =
        register_parameter(prefix + "post_attention_norm", torch::ones({c.hidden_size}));
    int64_t q_out = c.num_attention_heads * c.head_dim, kv_out = c.num_key_value_heads * c.head_dim;
    layer.q = register_module(prefix + "q", LoraLinear(c.hidden_size, q_out, c.attention_bias));
    layer.k = register_module(prefix + "k", LoraLinear(c.hidden_size, kv_out, c.attention_bias));
    layer.v = register_module(prefix + "v", LoraLinear(c.hidden_size, kv_out, c.attention_bias));
    layer.o = register_module(prefix + "o", LoraLinear(q_out, c.hidden_size, false));
    layer.gate =
        register_module(prefix + "gate", LoraLinear(c.hidden_size, c.intermediate_size, false));
    layer.up =
        register_module(prefix + "up", LoraLinear(c.hidden_size, c.intermediate_size, false));
    layer.down =
        register_module(prefix + "down", LoraLinear(c.intermediate_size, c.hidden_size, false));
    layers_.push_back(std::move(layer));
  }
  final_norm_ = register_parameter("norm", torch::ones({c.hidden_size}));
  if (!c.tie_word_embeddings)
    lm_head_ = register_parameter("lm_head", torch::randn({c.vocab_size, c.hidden_size}) * 0.02);
}

torch::Tensor LlamaImpl::Attention(Layer& layer, const torch::Tensor& x, const torch::Tensor& cos,
                                   const torch::Tensor& sin, const torch::Tensor& mask,
                                   KvCache* cache, size_t index) {
  const LlamaConfig& c = config_;
  int64_t batch = x.size(0), tokens = x.size(1);
  auto heads = [&](const torch::Tensor& t, int64_t n) {
    return t.view({batch, tokens, n, c.head_dim}).transpose(1, 2);
  };
  torch::Tensor q = ApplyRope(heads(layer.q(x), c.num_attention_heads), cos, sin);
  torch::Tensor k = ApplyRope(heads(layer.k(x), c.num_key_value_heads), cos, sin);
  torch::Tensor v = heads(layer.v(x), c.num_key_value_heads);
  if (cache) {
    if (cache->keys.size() <= index) {
      cache->keys.resize(index + 1);
      cache->values.resize(index + 1);
    }
    if (cache->keys[index].defined()) {
      k = torch::cat({cache->keys[index], k}, 2);
      v = torch::cat({cache->values[index], v}, 2);
    }
    cache->keys[index] = k;
    cache->values[index] = v;
  }
  int64_t groups = c.num_attention_heads / c.num_key_value_heads;
  if (groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(c.head_dim));
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  torch::Tensor out = torch::matmul(torch::softmax(scores, -1), v);
  return layer.o(out.transpose(1, 2).reshape({batch, tokens, c.num_attention_heads * c.head_dim}));
}

torch::Tensor LlamaImpl::Logits(const torch::Tensor& hidden) {
  return torch::matmul(hidden, (config_.tie_word_embeddings ? embed_tokens_ : lm_head_).t());
}

torch::Tensor LlamaImpl::Hidden(const torch::Tensor& ids, const torch::Tensor& positions,
                                const torch::Tensor& key_mask, KvCache* cache) {
  int64_t tokens = ids.size(1);
  int64_t past = cache ? cache->length() : 0;
  int64_t keys = past + tokens;
  // Query i (absolute past + i) sees key j when j <= past + i and j is real.
  auto on_device = torch::TensorOptions().device(ids.device());
  torch::Tensor query_at = torch::arange(past, keys, on_device).unsqueeze(1);
  torch::Tensor causal = torch::arange(keys, on_device).unsqueeze(0) <= query_at;  // [T, S]
  torch::Tensor mask = causal.unsqueeze(0).unsqueeze(0) & key_mask.unsqueeze(1).unsqueeze(1);
  // A padding query that sees no key would give NaN; let it see itself.
  mask = mask | torch::eye(tokens, keys, on_device.dtype(torch::kBool))
                    .roll(past, 1)
                    .unsqueeze(0)
                    .unsqueeze(0);
  auto [cos, sin] = RopeCosSin(positions, config_.head_dim, config_.rope_theta);
  torch::Tensor x = torch::embedding(embed_tokens_, ids);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    x = x + Attention(layer, RmsNorm(x, layer.input_norm, config_.rms_norm_eps), cos, sin, mask,
                      cache, i);
    torch::Tensor h = RmsNorm(x, layer.post_attention_norm, config_.rms_norm_eps);
    x = x + layer.down(torch::silu(layer.gate(h)) * layer.up(h));
  }
  return RmsNorm(x, final_norm_, config_.rms_norm_eps);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& ids) { return Logits(Hidden(ids)); }

torch::Tensor LlamaImpl::Hidden(const torch::Tensor& ids) {
  torch::Tensor positions =
      torch::arange(ids.size(1), ids.options()).unsqueeze(0).expand({ids.size(0), -1});
  return Hidden(ids, positions, torch::ones_like(ids, torch::kBool));
}

std::map<std::string, LoraLinear> LlamaImpl::LinearLayers() {
  std::map<std::string, LoraLinear> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    std::string p = StrCat("model.layers.", i, ".");
    out.emplace(p + "self_attn.q_proj", l.q);
    out.emplace(p + "self_attn.k_proj", l.k);
    out.emplace(p + "self_attn.v_proj", l.v);
    out.emplace(p + "self_attn.o_proj", l.o);
    out.emplace(p + "mlp.gate_proj", l.gate);
    out.emplace(p + "mlp.up_proj", l.up);
    out.emplace(p + "mlp.down_proj", l.down);
  }
  return out;
}

TensorMap LlamaImpl::StateDict() {
  TensorMap out;
  out["model.embed_tokens.weight"] = embed_tokens_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    std::string p = StrCat("model.layers.", i, ".");
    out[p + "input_layernorm.weight"] = layers_[i].input_norm;
    out[p + "post_attention_layernorm.weight"] = layers_[i].post_attention_norm;
  }
  for (auto& [name, linear] : LinearLayers()) {
    out[name + ".weight"] = linear->weight;
    if (linear->bias.defined()) out[name + ".bias"] = linear->bias;
  }
  out["model.norm.weight"] = final_norm_;
  if (!config_.tie_word_embeddings) out["lm_head.weight"] = lm_head_;
  return out;
}

absl::Status LlamaImpl::LoadStateDict(const TensorMap& weights) {
  TensorMap mine = StateDict();
  for (const auto& [name, tensor] : weights) {
    // Tied checkpoints sometimes carry lm_head anyway; it must equal the embedding.
    if (name == "lm_head.weight" && config_.tie_word_embeddings) continue;
    if (!mine.count(name)) return absl::InvalidArgumentError(StrCat("unexpected tensor ", name));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : mine) {
    auto it = weights.find(name);
    if (it == weights.end()) return absl::InvalidArgumentError(StrCat("missing tensor ", name));
    if (it->second.sizes() != target.sizes())
      return absl::InvalidArgumentError(StrCat(name, " has shape ", c10::str(it->second.sizes()),
                                               ", the config needs ", c10::str(target.sizes())));
    target.copy_(it->second.to(torch::kFloat32));
  }
  return absl::OkStatus();
}

absl::StatusOr<Llama> LoadLlama(const std::string& directory) {
  auto config = LlamaConfig::Load((std::filesystem::path(directory) / "config.json").string());
  if (!config.ok()) return config.status();
  auto weights = ReadCheckpointWeights(directory);
  if (!weights.ok()) return weights.status();
  Llama model(*config);
  if (auto status = model->LoadStateDict(*weights); !status.ok())
    return absl::InvalidArgumentError(StrCat(directory, ": ", status.message()));
  model->eval();
  return model;
}

absl::Status SaveLlama(Llama& model, const std::string& directory) {
  std::filesystem::create_directories(directory);
  std::ofstream(std::filesystem::path(directory) / "config.json") << model->config().ToJson();
  return WriteSafetensors((std::filesystem::path(directory) / "model.safetensors").string(),
                          model->StateDict(), {{"format", "pt"}});
}

// ---------------------------------------------------------------- generation

std::vector<std::vector<int64_t>> Generate(Llama& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  const int64_t batch = static_cast<int64_t>(prompts.size());
  size_t longest = 0;
  for (const auto& prompt : prompts) longest = std::max(longest, prompt.size());
  // Left-pad so every row's next token sits in the last column.
  torch::Tensor ids = torch::zeros({batch, static_cast<int64_t>(longest)}, torch::kInt64);
  torch::Tensor real = torch::zeros({batch, static_cast<int64_t>(longest)}, torch::kBool);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t pad = static_cast<int64_t>(longest - prompts[b].size());
    for (size_t t = 0; t < prompts[b].size(); ++t) {
      ids[b][pad + static_cast<int64_t>(t)] = prompts[b][t];
      real[b][pad + static_cast<int64_t>(t)] = true;
    }
  }
  ids = ids.to(model->device());
  real = real.to(model->device());
  // Sampling draws on the CPU from a seeded generator: the same seed gives
  // the same answers on every device.
  torch::Generator generator = at::detail::createCPUGenerator(options.seed);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(batch));
  std::vector<bool> done(static_cast<size_t>(batch), false);
  KvCache cache;
  torch::Tensor step_ids = ids, all_ids = ids, key_mask = real;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    torch::Tensor positions = (key_mask.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
    torch::Tensor hidden;
    if (options.use_cache) {
      positions = positions.slice(1, positions.size(1) - step_ids.size(1));
      hidden = model->Hidden(step_ids, positions, key_mask, &cache);
    } else {
      hidden = model->Hidden(all_ids, positions, key_mask);
    }
    // Only the last position's logits choose the next token.
    torch::Tensor last = model->Logits(hidden.select(1, hidden.size(1) - 1));
    torch::Tensor next;
    if (options.temperature <= 0) {
      next = last.argmax(-1).to(torch::kCPU);
    } else {
      torch::Tensor probs = torch::softmax(last / options.temperature, -1).to(torch::kCPU);
      next = torch::multinomial(probs, 1, false, generator).squeeze(1);
    }
    bool all_done = true;
    for (int64_t b = 0; b < batch; ++b) {
      int64_t token = next[b].item<int64_t>();
      if (!done[b] && token == options.eos_id) done[b] = true;
      if (!done[b]) out[b].push_back(token);
      all_done = all_done && done[b];
    }
    if (all_done) break;
    step_ids = next.unsqueeze(1).to(ids.device());
    all_ids = torch::cat({all_ids, step_ids}, 1);
    key_mask = torch::cat({key_mask, torch::ones({batch, 1}, real.options())}, 1);
  }
  return out;
}

}  // namespace gauntlet::eval
