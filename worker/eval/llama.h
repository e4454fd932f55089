// A decoder-only transformer with the Llama / Qwen2 architecture, small
// enough to read in one sitting: RMSNorm, rotary position embeddings with
// the split-halves layout, grouped-query attention with optional q/k/v bias,
// a SwiGLU MLP, tied or untied embeddings, a KV cache, and LoRA on any
// linear layer. Weights load from and save to Hugging Face tensor names.
// libtorch lives only in worker/eval; nothing outside it includes this.
#ifndef GAUNTLET_WORKER_EVAL_LLAMA_H_
#define GAUNTLET_WORKER_EVAL_LLAMA_H_

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hf/llama_config.h"
#include "worker/eval/safetensors_file.h"

namespace gauntlet::eval {

// y = x W^T + b, plus scale * dropout(x) A^T B^T when a LoRA adapter is
// attached (A: [r, in], B: [out, r], PEFT's layout).
class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  // PEFT's initialisation: A Kaiming-uniform, B zero, so the adapter starts
  // as the identity change.
  void AttachLora(int64_t rank, double scale, double dropout);
  void DetachLora();
  // Folds scale * B A into the weight and detaches the adapter.
  void Merge();
  bool has_lora() const { return lora_a.defined(); }

  torch::Tensor weight, bias, lora_a, lora_b;
  double scale = 0, dropout = 0;
  // False while the layer answers as its base (AdapterBypass).
  bool lora_enabled = true;
};
TORCH_MODULE(LoraLinear);

// Keys and values of every layer so far: [batch, kv_heads, length, head_dim].
struct KvCache {
  std::vector<torch::Tensor> keys, values;
  int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

class LlamaImpl : public torch::nn::Module {
 public:
  explicit LlamaImpl(LlamaConfig config);

  // Logits [batch, tokens, vocab] for `ids` [batch, tokens], one unpadded
  // sequence per row: Logits(Hidden(ids)).
  torch::Tensor forward(const torch::Tensor& ids);
  // The final-normed hidden states [batch, tokens, hidden_size]. `positions`
  // [batch, tokens] are the rotary positions; `key_mask` [batch, cached +
  // tokens] marks real (not padding) keys. With a cache, attends to and
  // extends it.
  torch::Tensor Hidden(const torch::Tensor& ids, const torch::Tensor& positions,
                       const torch::Tensor& key_mask, KvCache* cache = nullptr);
  torch::Tensor Hidden(const torch::Tensor& ids);  // Unpadded rows, no cache.
  // Logits [..., vocab] of hidden states [..., hidden_size]. Kept apart so
  // that callers put only the positions they need through the output layer:
  // with a vocabulary of 150,000 tokens the logits of every position of a
  // batch outweigh the rest of a small model many times over.
  torch::Tensor Logits(const torch::Tensor& hidden);

  // Every weight under its Hugging Face name (model.layers.N.self_attn.q_proj.weight, ...).
  TensorMap StateDict();
  // Copies every tensor in; InvalidArgument on a missing, unexpected or
  // mis-shaped name.
  absl::Status LoadStateDict(const TensorMap& weights);
  // The linear layers by Hugging Face module name (model.layers.N.mlp.up_proj, ...).
  std::map<std::string, LoraLinear> LinearLayers();

  const LlamaConfig& config() const { return config_; }
  // Where the weights live (CPU, or CUDA after to()); inputs follow it.
  torch::Device device() const { return embed_tokens_.device(); }

 private:
  struct Layer {
    torch::Tensor input_norm, post_attention_norm;
    LoraLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    LoraLinear gate{nullptr}, up{nullptr}, down{nullptr};
  };
  torch::Tensor Attention(Layer& layer, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask, KvCache* cache,
                          size_t index);

  LlamaConfig config_;
  torch::Tensor embed_tokens_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
};
TORCH_MODULE(Llama);

// Loads config.json and the weights of a Hugging Face checkpoint folder.
absl::StatusOr<Llama> LoadLlama(const std::string& directory);
// Writes config.json and model.safetensors.
absl::Status SaveLlama(Llama& model, const std::string& directory);

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
// Rotates pairs (i, i + head_dim/2) by position * theta^(-2i/head_dim).
// x: [batch, heads, tokens, head_dim]; positions: [batch, tokens].
std::pair<torch::Tensor, torch::Tensor> RopeCosSin(const torch::Tensor& positions, int64_t head_dim,
                                                   double theta);
torch::Tensor ApplyRope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0;  // 0: greedy.
  uint64_t seed = 0;       // For sampling.
  int64_t eos_id = -1;     // Stops a row when generated.
  bool use_cache = true;
};

// Continues each prompt (left-padded into one batch); returns only the new
// tokens of each row, up to and excluding eos.
std::vector<std::vector<int64_t>> Generate(Llama& model,
                                           const std::vector<std::vector<int64_t>>& prompts,
                                           const GenerateOptions& options);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_LLAMA_H_
