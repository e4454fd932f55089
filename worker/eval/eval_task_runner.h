// The eval worker's half of an A/B task: find or fetch both models, load
// them (or reuse them: loaded models are cached by the content digest of
// their files, so a job's batches load each model once per worker), and run
// the batch's prompts through ab_eval, or a discovery job's trigger search
// (trigger_search.h).
#ifndef GAUNTLET_WORKER_EVAL_EVAL_TASK_RUNNER_H_
#define GAUNTLET_WORKER_EVAL_EVAL_TASK_RUNNER_H_

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "worker/cluster/eval_runner.h"
#include "worker/eval/lab_model.h"

namespace gauntlet::eval {

class EvalTaskRunner : public EvalRunner {
 public:
  EvalTaskRunner(torch::Device device, std::string scratch_directory, size_t cached_models = 4);

  absl::StatusOr<v1::EvalBatchResult> Run(const v1::EvalTask& task, WorkerApi& api) override;
  bool gpu() const override { return device_.is_cuda(); }
  // Loads so far (a cache hit loads nothing), for tests and the benchmark.
  int64_t loads() const { return loads_; }

 private:
  // The folder on this machine: the path itself (the CLI's embedded cluster),
  // a private copy of it (a cluster), or the uploaded files fetched into
  // scratch. `digest` is the content digest of its files.
  struct LocalFolder {
    std::string directory, digest;
  };
  absl::StatusOr<LocalFolder> Localize(const v1::ModelFolder& folder, WorkerApi& api);
  // A folder by path on a cluster: its files opened beneath the task's root
  // and copied into scratch, once per content.
  absl::StatusOr<LocalFolder> CopyBeneathRoot(const v1::ModelFolder& folder,
                                              const std::vector<std::filesystem::path>& files,
                                              const std::string& stamp);
  absl::StatusOr<LoadedModel*> Model(const v1::ModelRef& ref, WorkerApi& api);

  torch::Device device_;
  std::string scratch_;
  size_t capacity_;
  std::mutex mu_;  // One batch at a time: torch already uses every core.
  std::map<std::string, std::unique_ptr<LoadedModel>> models_;
  std::deque<std::string> recency_;  // Least recently used first.
  // Path digests by (path, size, mtime) of every file: no rehashing per batch.
  std::map<std::string, std::string> path_digests_;
  int64_t loads_ = 0;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_EVAL_TASK_RUNNER_H_
