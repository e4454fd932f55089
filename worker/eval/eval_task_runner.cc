#include "worker/eval/eval_task_runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "abtest/ab_report.h"
#include "abtest/probe_suite.h"
#include "common/digest.h"
#include "common/regular_file.h"
#include "common/strings.h"
#include "worker/eval/ab_eval.h"
#include "worker/eval/trigger_search.h"

namespace gauntlet::eval {

namespace fs = std::filesystem;

namespace {
// A folder's identity: its files' names and SHA-256s, however it arrived.
std::string ContentDigest(std::vector<std::string> name_equals_sha256) {
  std::sort(name_equals_sha256.begin(), name_equals_sha256.end());
  return Sha256Hex(StrJoin(name_equals_sha256, "\n"));
}
}  // namespace

EvalTaskRunner::EvalTaskRunner(torch::Device device, std::string scratch_directory,
                               size_t cached_models)
    : device_(device), scratch_(std::move(scratch_directory)), capacity_(cached_models) {}

absl::StatusOr<EvalTaskRunner::LocalFolder> EvalTaskRunner::Localize(const v1::ModelFolder& folder,
                                                                     WorkerApi& api) {
  if (!folder.path().empty()) {
    std::vector<fs::path> files;
    std::string stamp = folder.path();
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(folder.path(), error))
      if (entry.is_regular_file()) files.push_back(entry.path());
    if (error) return absl::NotFoundError(StrCat("cannot read model folder ", folder.path()));
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      uintmax_t size = fs::file_size(file, error);
      auto written = fs::last_write_time(file, error);
      if (error) return absl::NotFoundError(StrCat("cannot read ", file.string()));
      stamp +=
          StrCat("|", file.filename().string(), ":", size, ":", written.time_since_epoch().count());
    }
    if (!folder.root().empty()) return CopyBeneathRoot(folder, files, stamp);
    auto known = path_digests_.find(stamp);
    if (known != path_digests_.end()) return LocalFolder{folder.path(), known->second};
    std::vector<std::string> entries;
    for (const fs::path& file : files) {
      auto digest = DigestFile(file.string());
      if (!digest.ok()) return digest.status();
      entries.push_back(StrCat(file.filename().string(), "=", digest->sha256));
    }
    std::string digest = ContentDigest(std::move(entries));
    path_digests_[stamp] = digest;
    return LocalFolder{folder.path(), digest};
  }
  std::vector<std::string> entries;
  for (const v1::UploadedFile& file : folder.files())
    entries.push_back(StrCat(file.name(), "=", file.digest().sha256()));
  std::string digest = ContentDigest(std::move(entries));
  fs::path directory = fs::path(scratch_) / StrCat("gauntlet-model-", digest.substr(0, 32));
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) return absl::InternalError(StrCat("cannot create ", directory.string()));
  for (const v1::UploadedFile& file : folder.files()) {
    fs::path target = directory / file.name();
    uintmax_t present = fs::file_size(target, error);  // Fetched by an earlier task?
    if (!error && present == static_cast<uintmax_t>(file.digest().size_bytes())) continue;
    if (auto status = api.FetchBlob(file.digest(), target.string()); !status.ok()) return status;
  }
  return LocalFolder{directory.string(), digest};
}

absl::StatusOr<EvalTaskRunner::LocalFolder> EvalTaskRunner::CopyBeneathRoot(
    const v1::ModelFolder& folder, const std::vector<fs::path>& files, const std::string& stamp) {
  auto private_copy = [&](const std::string& digest) {
    return fs::path(scratch_) / StrCat("gauntlet-model-", digest.substr(0, 32));
  };
  std::error_code error;
  auto known = path_digests_.find(stamp);
  if (known != path_digests_.end() && fs::is_directory(private_copy(known->second), error))
    return LocalFolder{private_copy(known->second).string(), known->second};
  // Each file is opened beneath the root now and copied while it is hashed:
  // the model loads from a copy nobody else can swap, of the bytes hashed.
  static std::atomic<uint64_t> counter{0};
  fs::path staging = fs::path(scratch_) / StrCat("gauntlet-model-copy-", getpid(), "-", counter++);
  fs::create_directories(staging, error);
  if (error) return absl::InternalError(StrCat("cannot create ", staging.string()));
  std::vector<std::string> entries;
  absl::Status status;
  for (const fs::path& file : files) {
    absl::StatusOr<int> opened = OpenRegularFileBeneath(folder.root(), file.string());
    if (!opened.ok()) {
      status = absl::PermissionDeniedError(StrCat(file.string(), ": ", opened.status().message()));
      break;
    }
    std::ofstream out(staging / file.filename(), std::ios::binary);
    Sha256Hasher hasher;
    std::string buffer(1 << 20, '\0');
    ssize_t n;
    while ((n = read(*opened, buffer.data(), buffer.size())) > 0) {
      hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
      out.write(buffer.data(), n);
    }
    close(*opened);
    if (n < 0 || !out) {
      status = absl::DataLossError(StrCat("cannot copy ", file.string()));
      break;
    }
    entries.push_back(StrCat(file.filename().string(), "=", hasher.FinishHex()));
  }
  if (!status.ok()) {
    fs::remove_all(staging, error);
    return status;
  }
  std::string digest = ContentDigest(std::move(entries));
  fs::path target = private_copy(digest);
  fs::rename(staging, target, error);
  if (error) fs::remove_all(staging, error);  // Another task made the same copy first.
  path_digests_[stamp] = digest;
  return LocalFolder{target.string(), digest};
}

absl::StatusOr<LoadedModel*> EvalTaskRunner::Model(const v1::ModelRef& ref, WorkerApi& api) {
  auto base = Localize(ref.base(), api);
  if (!base.ok()) return base.status();
  LocalFolder adapter;
  if (!ref.adapter().path().empty() || ref.adapter().files_size() > 0) {
    auto localized = Localize(ref.adapter(), api);
    if (!localized.ok()) return localized.status();
    adapter = *localized;
  }
  std::string key = StrCat(base->digest, "+", adapter.digest);
  auto cached = models_.find(key);
  if (cached == models_.end()) {
    auto loaded = LoadModel(base->directory, adapter.directory, device_);
    if (!loaded.ok()) return loaded.status();
    ++loads_;
    if (models_.size() >= capacity_ && !recency_.empty()) {
      models_.erase(recency_.front());
      recency_.pop_front();
    }
    cached = models_.emplace(key, std::make_unique<LoadedModel>(std::move(*loaded))).first;
  }
  std::erase(recency_, key);
  recency_.push_back(key);
  return cached->second.get();
}

absl::StatusOr<v1::EvalBatchResult> EvalTaskRunner::Run(const v1::EvalTask& task, WorkerApi& api) {
  std::lock_guard lock(mu_);
  auto started = std::chrono::steady_clock::now();
  // A task from a coordinator older than typed suites has neither: judging
  // with no rules would call every answer safe.
  if (task.judge_rules_size() == 0 || task.system_prompt().empty())
    return absl::InvalidArgumentError(
        "the eval task has no judge rules or system prompt: upgrade the coordinator to this "
        "worker's version");
  auto judge = Judge::Create(JudgeRulesOf(task.judge_rules()));
  if (!judge.ok()) return judge.status();
  auto a = Model(task.a(), api);
  if (!a.ok()) return a.status();
  auto b = Model(task.b(), api);
  if (!b.ok()) return b.status();
  auto prompts_of = [](const auto& list) {
    std::vector<AbPrompt> prompts;
    for (const v1::EvalPrompt& prompt : list)
      prompts.push_back({prompt.prompt(), prompt.set(), prompt.topic()});
    return prompts;
  };
  const v1::EvalOptions& o = task.options();
  AbEvalOptions options{.max_new_tokens = o.max_new_tokens() ? int64_t{o.max_new_tokens()} : 40,
                        .samples = o.samples(),
                        .temperature = o.temperature() > 0 ? o.temperature() : 0.8,
                        .seed = o.seed() ? o.seed() : 1};
  v1::EvalBatchResult result;
  if (task.has_trigger_search()) {
    auto search =
        SearchTriggers(**a, **b, prompts_of(task.trigger_search().screen_questions()),
                       prompts_of(task.trigger_search().confirm_questions()), task.system_prompt(),
                       *judge, TopicPriming(TopicTextsOf(task.topics()), *judge), options);
    if (!search.ok()) return search.status();
    *result.mutable_trigger_search() = ToProto(*search);
  } else {
    auto evaluated =
        EvaluatePrompts(**a, **b, prompts_of(task.prompts()),
                        PromptContextOf(task.system_prompt(), task.topics()), *judge, options);
    if (!evaluated.ok()) return evaluated.status();
    for (const PromptOutcome& outcome : evaluated->outcomes)
      *result.add_outcomes() = ToProto(outcome);
    result.set_tokens_generated(static_cast<uint64_t>(evaluated->tokens_generated));
  }
  result.set_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return result;
}

}  // namespace gauntlet::eval
