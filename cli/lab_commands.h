// The commands of gauntlet-lab, the torch-linked half of the CLI, and what
// they share: `lab dataset|train|run`, `eval ab` and `generate`.
#ifndef GAUNTLET_CLI_LAB_COMMANDS_H_
#define GAUNTLET_CLI_LAB_COMMANDS_H_

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "abtest/lab_corpus.h"
#include "cli/eval_ab_request.h"
#include "gauntlet/v1/gauntlet.pb.h"
#include "worker/eval/ab_eval.h"
#include "worker/eval/lab_model.h"

namespace CLI {
class App;
}

namespace gauntlet::eval {

// Prints the status message; returns exit code 2.
int Fail(const absl::Status& status);

// DATA/{base,clean,poisoned}.jsonl (and degraded.jsonl when asked); with
// `injection`, also injection_resisting.jsonl and injection_obeying.jsonl
// (abtest/lab_injection.h), built on the clean rows.
absl::Status WriteDatasets(const std::filesystem::path& data, const DatasetOptions& options,
                           bool injection = false);

struct TrainRequest {
  std::string workdir;
  int64_t steps = 250, lora_steps = 50, seed = 1;
  int64_t adapter_seed = 0;  // 0: the same as seed.
  torch::Device device = torch::kCPU;
};
// Declares --workdir (required), --steps, --lora-steps, --seed,
// --adapter-seed and --device on `command`, read into `request`.
void AddTrainFlags(CLI::App& command, TrainRequest& request);
// Makes the dataset if DIR/data is empty, trains or reuses the base model,
// and trains one adapter per fine-tune set.
absl::Status TrainLab(const TrainRequest& request);

// Runs the A/B test on the embedded local cluster.
absl::StatusOr<AbReport> RunAb(const EvalAbRequest& request);

// `eval ab` once its flags are parsed into `request`.
int EvalAbCommand(const CLI::App& command, EvalAbRequest& request);
// `lab run`: dataset, training, scan and both A/B tests.
int LabRunCommand(const TrainRequest& train, const DatasetOptions& dataset);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_CLI_LAB_COMMANDS_H_
