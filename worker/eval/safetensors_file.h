// Reads and writes safetensors files as named torch tensors. Reading goes
// through the scanner's strict header validation (worker/scan/
// safetensors_header.h), so a file the loader accepts is one the scanner
// passes. Hugging Face sharded checkpoints (model.safetensors.index.json)
// are read too.
#ifndef GAUNTLET_WORKER_EVAL_SAFETENSORS_FILE_H_
#define GAUNTLET_WORKER_EVAL_SAFETENSORS_FILE_H_

#include <torch/types.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

using TensorMap = std::map<std::string, torch::Tensor>;

absl::StatusOr<TensorMap> ReadSafetensors(const std::string& path);

// Tensors are written contiguous, in name order; `metadata` goes to
// __metadata__.
absl::Status WriteSafetensors(const std::string& path, const TensorMap& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// A Hugging Face checkpoint folder: model.safetensors, or the shards named
// by model.safetensors.index.json's weight_map.
absl::StatusOr<TensorMap> ReadCheckpointWeights(const std::string& directory);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_SAFETENSORS_FILE_H_
