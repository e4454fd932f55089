// A model ready to answer: a Hugging Face checkpoint folder (config.json,
// model.safetensors, tokenizer.json), optionally with a PEFT LoRA adapter
// applied, on the device chosen at run time. `generate`, `eval ab` and the
// eval worker load models only through here.
#ifndef GAUNTLET_WORKER_EVAL_LAB_MODEL_H_
#define GAUNTLET_WORKER_EVAL_LAB_MODEL_H_

#include <string>

#include "absl/status/statusor.h"
#include "hf/tokenizer.h"
#include "worker/eval/llama.h"

namespace gauntlet::eval {

// "auto" (CUDA when this libtorch and machine have it, else CPU), "cpu",
// "cuda" or "cuda:N". InvalidArgument for anything else, FailedPrecondition
// for CUDA where none is available.
absl::StatusOr<torch::Device> ResolveDevice(const std::string& name);

struct LoadedModel {
  Llama model{nullptr};
  Tokenizer tokenizer;
};

// `adapter_dir` may be empty (the base model alone). The adapter stays
// unmerged, as its author shipped it.
absl::StatusOr<LoadedModel> LoadModel(const std::string& base_dir, const std::string& adapter_dir,
                                      torch::Device device);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_LAB_MODEL_H_
