#include "coordinator/eval_jobs.h"

#include <filesystem>

#include "abtest/ab_prompts.h"
#include "abtest/lab_corpus.h"
#include "common/digest.h"
#include "common/regular_file.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr char kOutcomesKey[] = "ab_outcomes_json";

absl::Status CheckFolder(const v1::ModelFolder& folder, const std::string& what,
                         const char* required_file, const std::vector<std::string>& allow_roots,
                         const BlobVisible& blob_visible) {
  if (!folder.path().empty() && folder.files_size() > 0)
    return absl::InvalidArgumentError(StrCat(what, ": give a path or uploaded files, not both"));
  if (!folder.path().empty()) {
    if (!allow_roots.empty() && folder.path().front() != '/')
      return absl::InvalidArgumentError(StrCat(what, ": path '", folder.path(),
                                               "' is not absolute; workers resolve paths on "
                                               "their own hosts"));
    std::error_code error;
    std::string real = std::filesystem::canonical(folder.path(), error).string();
    if (error) return absl::NotFoundError(StrCat(what, ": no such directory ", folder.path()));
    if (!std::filesystem::exists(std::filesystem::path(real) / required_file))
      return absl::InvalidArgumentError(
          StrCat(what, ": ", folder.path(), " has no ", required_file));
    bool allowed = allow_roots.empty();
    for (const std::string& root : allow_roots) allowed |= PathWithin(real, root);
    if (!allowed)
      return absl::PermissionDeniedError(
          StrCat(what, ": '", folder.path(), "' is outside the roots this cluster may read (",
                 StrJoin(allow_roots, ", "), "); upload its files instead"));
    return absl::OkStatus();
  }
  bool has_required = false;
  for (const v1::UploadedFile& file : folder.files()) {
    if (file.name().empty() || file.name().find('/') != std::string::npos || file.name() == "." ||
        file.name() == "..")
      return absl::InvalidArgumentError(
          StrCat(what, ": uploaded file name '", file.name(), "' must be a plain file name"));
    BlobDigest digest{file.digest().sha256(), file.digest().size_bytes()};
    if (auto status = ValidateDigest(digest); !status.ok()) return status;
    if (!blob_visible(digest))
      return absl::NotFoundError(StrCat(what, ": blob for '", file.name(),
                                        "' is not in the content store; upload it first"));
    has_required |= file.name() == required_file;
  }
  if (!has_required)
    return absl::InvalidArgumentError(StrCat(what, ": the uploaded files have no ", required_file));
  return absl::OkStatus();
}

// A folder by path, resolved now and tied to the allowed root it lies
// under: the eval worker opens its files beneath that root when it reads
// them, so a folder swapped for a link out of the root is refused.
void ConfineFolder(v1::ModelFolder& folder, const std::vector<std::string>& allow_roots) {
  if (folder.path().empty() || allow_roots.empty()) return;
  std::error_code error;
  std::string real = std::filesystem::canonical(folder.path(), error).string();
  if (error) return;
  for (const std::string& root : allow_roots) {
    if (PathWithin(real, root)) {
      folder.set_path(real);
      folder.set_root(root);
      return;
    }
  }
}

bool HasAdapter(const v1::ModelRef& model) {
  return !model.adapter().path().empty() || model.adapter().files_size() > 0;
}

absl::Status CheckModel(const v1::ModelRef& model, const std::string& side,
                        const std::vector<std::string>& allow_roots,
                        const BlobVisible& blob_visible) {
  if (model.base().path().empty() && model.base().files_size() == 0)
    return absl::InvalidArgumentError(StrCat("model ", side, " needs a base checkpoint"));
  if (auto status = CheckFolder(model.base(), StrCat("model ", side, " base"), "config.json",
                                allow_roots, blob_visible);
      !status.ok())
    return status;
  if (!HasAdapter(model)) return absl::OkStatus();
  return CheckFolder(model.adapter(), StrCat("model ", side, " adapter"), "adapter_config.json",
                     allow_roots, blob_visible);
}

std::string FolderLabel(const v1::ModelFolder& folder) {
  if (!folder.path().empty()) return folder.path();
  for (const v1::UploadedFile& file : folder.files())
    if (file.name() == "config.json" || file.name() == "adapter_config.json")
      return StrCat("uploaded ", file.digest().sha256().substr(0, 12));
  return "uploaded";
}

}  // namespace

std::string ModelLabel(const v1::ModelRef& model) {
  return HasAdapter(model) ? StrCat(FolderLabel(model.base()), " + ", FolderLabel(model.adapter()))
                           : StrCat(FolderLabel(model.base()), " (no adapter)");
}

absl::StatusOr<std::vector<v1::EvalTask>> PlanEvalJob(const v1::SubmitEvalRequest& request,
                                                      const std::vector<std::string>& allow_roots,
                                                      const BlobVisible& blob_visible) {
  if (auto status = CheckModel(request.a(), "A", allow_roots, blob_visible); !status.ok())
    return status;
  if (auto status = CheckModel(request.b(), "B", allow_roots, blob_visible); !status.ok())
    return status;
  if (request.a().SerializeAsString() == request.b().SerializeAsString())
    return absl::InvalidArgumentError("models A and B are the same; an A/B test needs two");
  if (!request.judge_rules_json().empty())
    if (auto judge = eval::Judge::WithExtraRules(request.judge_rules_json(), "judge rules");
        !judge.ok())
      return judge.status();
  if (request.max_runtime_seconds() < 0)
    return absl::InvalidArgumentError("max_runtime_seconds must not be negative");

  std::vector<v1::EvalPrompt> prompts(request.prompts().begin(), request.prompts().end());
  if (prompts.empty())
    for (const eval::AbPrompt& prompt : eval::BuiltInPrompts()) {
      v1::EvalPrompt& out = prompts.emplace_back();
      out.set_prompt(prompt.text);
      out.set_set(prompt.set);
      out.set_topic(prompt.topic);
    }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const v1::EvalPrompt& prompt = prompts[i];
    if (prompt.prompt().empty())
      return absl::InvalidArgumentError(StrCat("prompt ", i, " is empty"));
    if (prompt.set() != eval::kTriggerSet && prompt.set() != eval::kControlSet &&
        prompt.set() != eval::kNearMissSet)
      return absl::InvalidArgumentError(
          StrCat("prompt ", i, ": set '", prompt.set(), "' is not trigger, control or near_miss"));
    if (!prompt.topic().empty() && !eval::FindTopic(prompt.topic()))
      return absl::InvalidArgumentError(
          StrCat("prompt ", i, ": unknown topic '", prompt.topic(), "'"));
  }
  uint32_t per_task =
      request.prompts_per_task() ? request.prompts_per_task() : kDefaultPromptsPerTask;
  v1::ModelRef a = request.a(), b = request.b();
  for (v1::ModelRef* model : {&a, &b})
    for (v1::ModelFolder* folder : {model->mutable_base(), model->mutable_adapter()})
      ConfineFolder(*folder, allow_roots);
  std::vector<v1::EvalTask> tasks;
  for (size_t start = 0; start < prompts.size(); start += per_task) {
    v1::EvalTask& task = tasks.emplace_back();
    *task.mutable_a() = a;
    *task.mutable_b() = b;
    task.set_first_prompt(static_cast<uint32_t>(start));
    task.set_judge_rules_json(request.judge_rules_json());
    *task.mutable_options() = request.options();
    for (size_t i = start; i < std::min(prompts.size(), start + per_task); ++i)
      *task.add_prompts() = prompts[i];
  }
  return tasks;
}

v1::FileResult EvalBatchAsFileResult(const std::string& display, const v1::EvalBatchResult& batch) {
  v1::FileResult result;
  result.set_path(display);
  result.set_format("ab-eval");
  result.set_fully_analysed(true);
  result.set_verdict(v1::CLEAN);
  auto add = [&](const std::string& key, const std::string& value) {
    v1::KeyValue* kv = result.add_metadata();
    kv->set_key(key);
    kv->set_value(value);
  };
  add(kOutcomesKey, batch.outcomes_json());
  add("tokens_generated", std::to_string(batch.tokens_generated()));
  return result;
}

eval::AbReport AggregateEvalJob(const std::string& label_a, const std::string& label_b,
                                const std::vector<v1::FileResult>& batches) {
  std::vector<eval::PromptOutcome> outcomes;
  std::vector<std::string> problems;
  for (const v1::FileResult& batch : batches) {
    const std::string* json = nullptr;
    for (const v1::KeyValue& kv : batch.metadata())
      if (kv.key() == kOutcomesKey) json = &kv.value();
    if (!json) {
      std::string why = batch.findings_size() > 0 ? batch.findings(0).message() : "no outcomes";
      problems.push_back(StrCat(batch.path(), ": ", why));
      continue;
    }
    auto parsed = nlohmann::json::parse(*json, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array()) {
      problems.push_back(StrCat(batch.path(), ": unreadable outcomes"));
      continue;
    }
    for (const auto& item : parsed) {
      auto outcome = eval::PromptOutcomeFromJson(item);
      if (!outcome.ok()) {
        problems.push_back(StrCat(batch.path(), ": ", outcome.status().message()));
        break;
      }
      outcomes.push_back(std::move(*outcome));
    }
  }
  eval::AbReport report = eval::Analyze(label_a, label_b, std::move(outcomes));
  if (!problems.empty()) {
    report.verdict = "ERROR";
    report.probability = 0;
    report.reasons.insert(
        report.reasons.begin(),
        StrCat("not every prompt was evaluated, so no verdict: ", StrJoin(problems, "; ")));
  }
  return report;
}

}  // namespace gauntlet
