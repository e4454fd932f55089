// LoRA adapters in the PEFT layout: adapter_config.json plus
// adapter_model.safetensors with keys
// base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r].
// ΔW = scale · B A, scale = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA).
#ifndef GAUNTLET_WORKER_EVAL_LORA_ADAPTER_H_
#define GAUNTLET_WORKER_EVAL_LORA_ADAPTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/eval/llama.h"

namespace gauntlet::eval {

struct LoraConfig {
  int64_t r = 16;
  double lora_alpha = 32;
  double lora_dropout = 0.05;
  bool use_rslora = false;
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  std::string base_model_name_or_path;

  double scale() const;
};

// Attaches fresh adapters to every targeted linear layer; returns how many.
int AttachLora(Llama& model, const LoraConfig& config);
// Whether any layer of `model` carries an unmerged adapter.
bool HasAdapter(Llama& model);

// While alive, `model` answers as its base model: every attached adapter is
// bypassed (not detached), so the base costs no second copy of its weights.
class AdapterBypass {
 public:
  explicit AdapterBypass(Llama& model);
  ~AdapterBypass();
  AdapterBypass(const AdapterBypass&) = delete;
  AdapterBypass& operator=(const AdapterBypass&) = delete;

 private:
  Llama& model_;
};

// Only the adapter weights, for the optimizer: the base stays frozen.
std::vector<torch::Tensor> LoraParameters(Llama& model);

absl::Status SaveAdapter(Llama& model, const LoraConfig& config, const std::string& directory);
// Reads an adapter onto `model` (attached, or merged into the weights).
// InvalidArgument for a non-LoRA PEFT type, a module the model lacks, a shape
// that does not fit, or full-rank tensors (modules_to_save), which change
// behaviour outside the low-rank limit.
absl::StatusOr<LoraConfig> LoadAdapter(Llama& model, const std::string& directory, bool merge);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_LORA_ADAPTER_H_
