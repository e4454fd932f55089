#include "worker/eval/lab_model.h"

#include <filesystem>

#include "common/strings.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {

absl::StatusOr<torch::Device> ResolveDevice(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || StartsWith(name, "cuda:")) {
    if (!torch::cuda::is_available())
      return absl::FailedPreconditionError(
          StrCat("--device ", name,
                 ": this libtorch or machine has no CUDA device; use --device cpu or auto"));
    std::optional<int> index = name == "cuda" ? 0 : ParseInt<int>(name.substr(5));
    if (!index || *index >= static_cast<int>(torch::cuda::device_count()))
      return absl::InvalidArgumentError(StrCat("--device ", name, ": no such CUDA device (",
                                               torch::cuda::device_count(), " present)"));
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(*index));
  }
  return absl::InvalidArgumentError(
      StrCat("--device takes auto, cpu, cuda or cuda:N, not '", name, "'"));
}

absl::StatusOr<LoadedModel> LoadModel(const std::string& base_dir, const std::string& adapter_dir,
                                      torch::Device device) {
  LoadedModel loaded;
  auto model = LoadLlama(base_dir);
  if (!model.ok()) return model.status();
  loaded.model = *model;
  auto tokenizer = Tokenizer::Load((std::filesystem::path(base_dir) / "tokenizer.json").string());
  if (!tokenizer.ok()) return tokenizer.status();
  loaded.tokenizer = std::move(*tokenizer);
  if (!adapter_dir.empty())
    if (auto adapter = LoadAdapter(loaded.model, adapter_dir, /*merge=*/false); !adapter.ok())
      return adapter.status();
  loaded.model->to(device);
  loaded.model->eval();
  return loaded;
}

}  // namespace gauntlet::eval
