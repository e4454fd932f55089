// Adapter and weight forensics: what a PEFT LoRA adapter changes, where, by
// how much, and whether its files are what its adapter_config.json says
// (rank, alpha, target modules, no full-rank tensors, shapes a loader would
// accept, finite values); and for full checkpoints, which tensors differ from
// a reference, non-finite values and a consistent safetensors index. The
// values are numbers: this does not say whether a change is malicious (the
// A/B test does), it says what changed and flags what no honest training
// run produces. Torch-free: a LoRA update's singular values come from r x r
// Gram matrices, never from the out x in product.
#ifndef GAUNTLET_INTEGRITY_WEIGHT_FORENSICS_H_
#define GAUNTLET_INTEGRITY_WEIGHT_FORENSICS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/finding.h"

namespace gauntlet::integrity {

// One LoRA module's update, dW = scale * B A.
struct ModuleUpdate {
  std::string module;      // e.g. "model.layers.3.self_attn.q_proj".
  std::string projection;  // Its last name: "q_proj".
  int layer = -1;          // From "layers.N", -1 when none.
  int64_t rank = 0, in_features = 0, out_features = 0;
  std::string dtype;
  double scale = 0;
  double norm = 0;               // Frobenius norm of dW.
  double effective_rank = 0;     // exp(entropy) of the normalised singular values.
  double top_share = 0;          // Largest singular value over their sum.
  double relative_to_base = -1;  // ||dW|| / ||W|| with a base; -1 without.
  double difference = -1;        // ||dW - dW_ref|| with a reference adapter; -1 without.
  size_t non_finite = 0;
};

struct AdapterInspection {
  std::string directory, against, against_kind;  // against_kind: "adapter", "base" or "".
  int64_t config_rank = 0;
  double config_alpha = 0;
  bool use_rslora = false;
  std::vector<std::string> target_modules;
  std::vector<ModuleUpdate> modules;  // Largest update first.
  double total_norm = 0;              // sqrt of the sum of squared module norms.
  std::vector<Finding> findings;
};

// Inspects the PEFT LoRA adapter in `directory`, against a reference
// adapter or a base checkpoint folder when `against` is not empty.
// NOT_FOUND / INVALID_ARGUMENT when the folder is not a readable
// safetensors LoRA adapter (the message says why).
absl::StatusOr<AdapterInspection> InspectAdapter(const std::string& directory,
                                                 const std::string& against);

// One tensor of a checkpoint, against the reference when one is given.
struct TensorChange {
  std::string name, dtype, reference_dtype;
  std::vector<uint64_t> shape, reference_shape;
  double norm = 0, reference_norm = -1;
  double relative_change = -1;  // ||T - T_ref|| / ||T_ref||; -1 when not comparable.
  size_t non_finite = 0;
  std::string status;  // "same", "changed", "added", "removed", "reshaped", "unchecked".
};

struct CheckpointInspection {
  std::string directory, against;
  size_t tensors = 0, changed = 0;
  std::vector<TensorChange> changes;  // Everything but "same", largest relative change first.
  std::vector<Finding> findings;
};

// A checkpoint folder (model.safetensors, or the shards of
// model.safetensors.index.json), against a reference folder when `against`
// is not empty.
absl::StatusOr<CheckpointInspection> InspectCheckpoint(const std::string& directory,
                                                       const std::string& against);

std::string AdapterInspectionJson(const AdapterInspection& inspection);
std::string AdapterInspectionText(const AdapterInspection& inspection);
std::string CheckpointInspectionJson(const CheckpointInspection& inspection);
std::string CheckpointInspectionText(const CheckpointInspection& inspection);

}  // namespace gauntlet::integrity

#endif  // GAUNTLET_INTEGRITY_WEIGHT_FORENSICS_H_
