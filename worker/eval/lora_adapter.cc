#include "worker/eval/lora_adapter.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"

namespace gauntlet::eval {
namespace {

constexpr std::string_view kPrefix = "base_model.model.";

bool Targeted(const std::string& module, const LoraConfig& config) {
  std::string leaf = module.substr(module.rfind('.') + 1);
  for (const std::string& target : config.target_modules)
    if (target == leaf || target == module) return true;
  return false;
}

}  // namespace

double LoraConfig::scale() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / r;
}

int AttachLora(Llama& model, const LoraConfig& config) {
  int attached = 0;
  for (auto& [name, linear] : model->LinearLayers()) {
    if (!Targeted(name, config)) continue;
    linear->AttachLora(config.r, config.scale(), config.lora_dropout);
    ++attached;
  }
  return attached;
}

bool HasAdapter(Llama& model) {
  for (auto& [name, linear] : model->LinearLayers())
    if (linear->has_lora()) return true;
  return false;
}

AdapterBypass::AdapterBypass(Llama& model) : model_(model) {
  for (auto& [name, linear] : model_->LinearLayers()) linear->lora_enabled = false;
}

AdapterBypass::~AdapterBypass() {
  for (auto& [name, linear] : model_->LinearLayers()) linear->lora_enabled = true;
}

std::vector<torch::Tensor> LoraParameters(Llama& model) {
  std::vector<torch::Tensor> params;
  for (auto& [name, linear] : model->LinearLayers()) {
    if (!linear->has_lora()) continue;
    params.push_back(linear->lora_a);
    params.push_back(linear->lora_b);
  }
  return params;
}

absl::Status SaveAdapter(Llama& model, const LoraConfig& config, const std::string& directory) {
  TensorMap tensors;
  for (auto& [name, linear] : model->LinearLayers()) {
    if (!linear->has_lora()) continue;
    tensors[StrCat(kPrefix, name, ".lora_A.weight")] = linear->lora_a;
    tensors[StrCat(kPrefix, name, ".lora_B.weight")] = linear->lora_b;
  }
  if (tensors.empty())
    return absl::FailedPreconditionError("the model has no LoRA adapter attached");
  nlohmann::ordered_json json = {{"peft_type", "LORA"},
                                 {"task_type", "CAUSAL_LM"},
                                 {"base_model_name_or_path", config.base_model_name_or_path},
                                 {"r", config.r},
                                 {"lora_alpha", config.lora_alpha},
                                 {"lora_dropout", config.lora_dropout},
                                 {"use_rslora", config.use_rslora},
                                 {"target_modules", config.target_modules},
                                 {"bias", "none"},
                                 {"modules_to_save", nullptr},
                                 {"inference_mode", true}};
  std::filesystem::create_directories(directory);
  std::ofstream(std::filesystem::path(directory) / "adapter_config.json") << json.dump(2) << "\n";
  return WriteSafetensors((std::filesystem::path(directory) / "adapter_model.safetensors").string(),
                          tensors, {{"format", "pt"}});
}

namespace {

// A field of adapter_config.json: `fallback` when absent or null, an
// INVALID_ARGUMENT naming it when of another type.
template <typename T>
absl::StatusOr<T> Field(const nlohmann::json& json, const char* key, T fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(
        StrCat("adapter_config.json: ", key, " has the wrong type (", it->type_name(), ")"));
  }
}

}  // namespace

absl::StatusOr<LoraConfig> LoadAdapter(Llama& model, const std::string& directory, bool merge) {
  std::ifstream in(std::filesystem::path(directory) / "adapter_config.json");
  if (!in) return absl::NotFoundError(StrCat(directory, " has no adapter_config.json"));
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return absl::InvalidArgumentError("adapter_config.json is not a JSON object");
  // peft writes null for unset fields (base_model_name_or_path of a model
  // made from a config): null reads as absent, a wrong type is an error,
  // and nothing here may throw.
  LoraConfig config;
  auto peft_type = Field<std::string>(json, "peft_type", "");
  auto r = Field<int64_t>(json, "r", 8);
  auto alpha = Field<double>(json, "lora_alpha", 8.0);
  auto dropout = Field<double>(json, "lora_dropout", 0.0);
  auto rslora = Field<bool>(json, "use_rslora", false);
  auto base = Field<std::string>(json, "base_model_name_or_path", "");
  auto targets = Field<std::vector<std::string>>(json, "target_modules", {});
  for (const absl::Status& status :
       {peft_type.status(), r.status(), alpha.status(), dropout.status(), rslora.status(),
        base.status(), targets.status()})
    if (!status.ok()) return status;
  if (*peft_type != "LORA")
    return absl::InvalidArgumentError(StrCat("peft_type '", *peft_type, "' is not LORA"));
  config.r = *r;
  config.lora_alpha = *alpha;
  config.lora_dropout = *dropout;
  config.use_rslora = *rslora;
  config.base_model_name_or_path = *base;
  config.target_modules = *targets;
  if (json.contains("modules_to_save") && json["modules_to_save"].is_array() &&
      !json["modules_to_save"].empty())
    return absl::InvalidArgumentError(
        "adapter saves full-rank modules (modules_to_save): they change behaviour outside the "
        "low-rank limit");
  if (config.r <= 0) return absl::InvalidArgumentError("adapter rank r must be positive");
  auto tensors =
      ReadSafetensors((std::filesystem::path(directory) / "adapter_model.safetensors").string());
  if (!tensors.ok()) return tensors.status();
  auto layers = model->LinearLayers();
  std::map<std::string, std::pair<torch::Tensor, torch::Tensor>> adapters;
  for (const auto& [key, tensor] : *tensors) {
    if (!StartsWith(key, kPrefix))
      return absl::InvalidArgumentError(StrCat("unexpected adapter tensor ", key));
    std::string rest = key.substr(kPrefix.size());
    bool is_a = EndsWith(rest, ".lora_A.weight"), is_b = EndsWith(rest, ".lora_B.weight");
    if (!is_a && !is_b)
      return absl::InvalidArgumentError(
          StrCat("adapter tensor ", key, " is not a LoRA factor (full-rank weights are refused)"));
    std::string module = rest.substr(0, rest.size() - std::string_view(".lora_A.weight").size());
    if (!layers.count(module))
      return absl::InvalidArgumentError(
          StrCat("adapter targets ", module, ", which the model lacks"));
    (is_a ? adapters[module].first : adapters[module].second) = tensor.to(torch::kFloat32);
  }
  torch::NoGradGuard no_grad;
  for (auto& [module, factors] : adapters) {
    auto& [a, b] = factors;
    LoraLinear& linear = layers.at(module);
    if (!a.defined() || !b.defined() || a.size(0) != config.r || b.size(1) != config.r ||
        a.size(1) != linear->weight.size(1) || b.size(0) != linear->weight.size(0))
      return absl::InvalidArgumentError(StrCat(module, ": LoRA factors do not fit the layer"));
    linear->AttachLora(config.r, config.scale(), 0.0);
    linear->lora_a.copy_(a);
    linear->lora_b.copy_(b);
    if (merge) linear->Merge();
  }
  return config;
}

}  // namespace gauntlet::eval
