// Gauntlet's Llama/Qwen2 forward pass, PEFT LoRA and greedy generation
// against Hugging Face transformers and peft: loads the models and adapters
// make_reference.py saved, runs its prompts, and compares the logits (max
// absolute difference) and the greedy tokens (exactly) with what
// transformers computed, on every device both have. Exit 0 when all match.
// Usage: parity_check REFERENCE_DIR
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "worker/eval/llama.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {
namespace {

// Tolerance on logits of order 1: float32 kernels differ in summation order.
constexpr double kTolerance = 2e-4;

int Check(const std::string& root) {
  std::ifstream in(root + "/reference.json");
  nlohmann::json reference = nlohmann::json::parse(in, nullptr, false);
  if (reference.is_discarded()) {
    std::fprintf(stderr, "cannot read %s/reference.json\n", root.c_str());
    return 2;
  }
  std::vector<std::vector<int64_t>> prompts = reference["prompts"];
  std::vector<std::string> devices = {"cpu"};
  if (torch::cuda::is_available()) devices.push_back("cuda");
  int failures = 0;
  torch::NoGradGuard no_grad;
  for (const auto& [name, model_reference] : reference["models"].items()) {
    for (const std::string& device_name : devices) {
      if (!model_reference.contains(device_name)) continue;
      torch::Device device(device_name);
      auto model = LoadLlama(root + "/" + name + "/base");
      if (!model.ok()) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(),
                     std::string(model.status().message()).c_str());
        return 2;
      }
      for (const char* variant : {"base", "adapter"}) {
        if (std::string(variant) == "adapter")
          if (auto adapter = LoadAdapter(*model, root + "/" + name + "/adapter", /*merge=*/false);
              !adapter.ok()) {
            std::fprintf(stderr, "%s adapter: %s\n", name.c_str(),
                         std::string(adapter.status().message()).c_str());
            return 2;
          }
        (*model)->to(device);
        (*model)->eval();
        const auto& expected = model_reference[device_name][variant];
        std::vector<float> flat = expected["logits"];
        std::vector<int64_t> shape = expected["shape"];
        torch::Tensor want = torch::tensor(flat).reshape(shape);
        std::vector<int64_t> ids;
        for (const auto& row : prompts) ids.insert(ids.end(), row.begin(), row.end());
        torch::Tensor input =
            torch::tensor(ids).reshape({static_cast<int64_t>(prompts.size()), -1}).to(device);
        torch::Tensor got = (*model)->forward(input).to(torch::kCPU).to(torch::kFloat);
        double difference = (got - want).abs().max().item<double>();
        GenerateOptions options{.max_new_tokens = reference["new_tokens"].get<int64_t>()};
        std::vector<std::vector<int64_t>> greedy = Generate(*model, prompts, options);
        std::vector<std::vector<int64_t>> want_greedy = expected["greedy"];
        bool same_tokens = greedy == want_greedy;
        bool ok = difference <= kTolerance && same_tokens;
        failures += ok ? 0 : 1;
        std::printf("%-6s %-8s %-5s logits max |diff| %.2e  greedy %zu tokens %s  %s\n",
                    name.c_str(), variant, device_name.c_str(), difference,
                    greedy.empty() ? 0 : greedy[0].size(), same_tokens ? "identical" : "DIFFER",
                    ok ? "ok" : "MISMATCH");
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace gauntlet::eval

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: parity_check REFERENCE_DIR\n");
    return 2;
  }
  return gauntlet::eval::Check(argv[1]);
}
