#include "coordinator/eval_jobs.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "abtest/ab_prompts.h"
#include "abtest/discovery.h"
#include "abtest/probe_suite.h"
#include "common/digest.h"
#include "common/regular_file.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

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

namespace {

// The suite the job runs: the request's or the built-in default, with the
// v1 fields from before suites folded in, checked like a suite file.
absl::StatusOr<v1::ProbeSuite> ResolveSuite(const v1::SubmitEvalRequest& request) {
  v1::ProbeSuite suite;
  if (request.has_suite()) {
    suite = request.suite();
  } else {
    auto built_in = eval::BuiltInSuite(eval::kDefaultSuite);
    if (!built_in.ok()) return built_in.status();
    suite = std::move(*built_in);
  }
  if (request.prompts_size() > 0) {
    *suite.mutable_prompts() = request.prompts();
    for (v1::EvalPrompt& prompt : *suite.mutable_prompts())
      if (prompt.topic().empty())
        if (const v1::ProbeTopic* topic = eval::TopicOfQuestion(suite, prompt.prompt()))
          prompt.set_topic(topic->name());
  }
  if (!request.judge_rules_json().empty()) {
    auto rules = eval::ParseJudgeRules(request.judge_rules_json(), "judge_rules_json");
    if (!rules.ok()) return rules.status();
    for (v1::JudgeRule& rule : *rules) *suite.add_judge_rules() = std::move(rule);
  }
  if (auto status = eval::ValidateProbeSuite(suite); !status.ok())
    return absl::InvalidArgumentError(
        StrCat("probe suite '", suite.name(), "': ", status.message()));
  return suite;
}

}  // namespace

absl::StatusOr<JobPlan> PlanEvalJob(const v1::SubmitEvalRequest& request,
                                    const std::vector<std::string>& allow_roots,
                                    const BlobVisible& blob_visible) {
  if (auto status = CheckModel(request.a(), "A", allow_roots, blob_visible); !status.ok())
    return status;
  if (auto status = CheckModel(request.b(), "B", allow_roots, blob_visible); !status.ok())
    return status;
  if (request.a().SerializeAsString() == request.b().SerializeAsString())
    return absl::InvalidArgumentError("models A and B are the same; an A/B test needs two");
  if (request.max_runtime_seconds() < 0)
    return absl::InvalidArgumentError("max_runtime_seconds must not be negative");
  auto suite = ResolveSuite(request);
  if (!suite.ok()) return suite.status();

  v1::SubmitEvalRequest spec = request;
  spec.clear_prompts();
  spec.clear_judge_rules_json();
  *spec.mutable_suite() = *suite;
  if (spec.label_a().empty()) spec.set_label_a(ModelLabel(request.a()));
  if (spec.label_b().empty()) spec.set_label_b(ModelLabel(request.b()));
  JobPlan plan{.kind = v1::EVAL,
               .policy_source = "A/B eval",
               .policy = Policy::Shared(""),
               .spec = spec.SerializeAsString(),
               .runtime_seconds = request.max_runtime_seconds() > 0 ? request.max_runtime_seconds()
                                                                    : kDefaultEvalRuntimeSeconds};

  uint32_t per_task =
      request.prompts_per_task() ? request.prompts_per_task() : kDefaultPromptsPerTask;
  v1::ModelRef a = request.a(), b = request.b();
  for (v1::ModelRef* model : {&a, &b})
    for (v1::ModelFolder* folder : {model->mutable_base(), model->mutable_adapter()})
      ConfineFolder(*folder, allow_roots);
  const auto& prompts = suite->prompts();
  for (int start = 0; start < prompts.size(); start += static_cast<int>(per_task)) {
    v1::EvalTask task;
    *task.mutable_a() = a;
    *task.mutable_b() = b;
    task.set_first_prompt(static_cast<uint32_t>(start));
    *task.mutable_options() = request.options();
    task.set_system_prompt(suite->system_prompt());
    *task.mutable_judge_rules() = suite->judge_rules();
    std::set<std::string> topics;
    for (int i = start; i < std::min(prompts.size(), start + static_cast<int>(per_task)); ++i) {
      *task.add_prompts() = prompts[i];
      if (!prompts[i].topic().empty() && topics.insert(prompts[i].topic()).second)
        *task.add_topics() = *eval::FindSuiteTopic(*suite, prompts[i].topic());
    }
    plan.tasks.push_back({StrCat("prompts ", start + 1, "-", start + task.prompts_size()),
                          "",
                          {},
                          task.SerializeAsString()});
  }
  // Discovery also searches for a token or phrase trigger, on the same
  // screen/confirm halves, in one task of its own, with every topic: a
  // candidate is not credited with answers in the topics it names.
  if (std::any_of(prompts.begin(), prompts.end(),
                  [](const v1::EvalPrompt& p) { return p.set() == eval::kScreenSet; })) {
    v1::EvalTask task;
    *task.mutable_a() = a;
    *task.mutable_b() = b;
    *task.mutable_options() = request.options();
    task.set_system_prompt(suite->system_prompt());
    *task.mutable_judge_rules() = suite->judge_rules();
    *task.mutable_topics() = suite->topics();
    for (const v1::EvalPrompt& prompt : prompts)
      *(prompt.set() == eval::kScreenSet ? task.mutable_trigger_search()->add_screen_questions()
                                         : task.mutable_trigger_search()->add_confirm_questions()) =
          prompt;
    plan.tasks.push_back({"trigger search", "", {}, task.SerializeAsString()});
  }
  return plan;
}

absl::StatusOr<v1::EvalReportData> EvalReportDataOf(JobStore& store, const StoredJob& job) {
  if (job.kind != v1::EVAL)
    return absl::FailedPreconditionError(StrCat(job.public_id, " is a scan job, not an A/B eval"));
  v1::SubmitEvalRequest spec;
  if (!spec.ParseFromString(job.eval_spec))
    return absl::DataLossError(StrCat("the stored request of ", job.public_id, " does not parse"));
  auto batches = store.EvalBatches(job.id);
  if (!batches.ok()) return batches.status();
  v1::EvalReportData data;
  data.set_label_a(spec.label_a());
  data.set_label_b(spec.label_b());
  data.set_suite(spec.suite().name());
  for (const StoredEvalBatch& batch : *batches) {
    if (!batch.result) {
      data.add_problems(StrCat(batch.display, ": ", batch.error));
      continue;
    }
    for (const v1::PromptOutcome& outcome : batch.result->outcomes())
      *data.add_outcomes() = outcome;
    if (batch.result->has_trigger_search())
      *data.mutable_trigger_search() = batch.result->trigger_search();
  }
  const bool cancelled = job.state == v1::CANCELLED;
  if (cancelled || batches->size() < job.total_tasks)
    data.add_problems(StrCat("the job ", cancelled ? "was cancelled" : "is unfinished", " after ",
                             batches->size(), " of ", job.total_tasks, " prompt batches"));
  return data;
}

void EvalJobKind::DescribeWork(const PendingTask& task, const std::vector<std::string>&,
                               v1::ScanTask& out) const {
  out.mutable_eval()->ParseFromString(task.payload);
}

std::vector<BlobDigest> EvalJobKind::Inputs(const BlobDigest&, const std::string& payload) const {
  std::vector<BlobDigest> blobs;
  v1::EvalTask eval;
  if (!eval.ParseFromString(payload)) return blobs;
  for (const v1::ModelRef* model : {&eval.a(), &eval.b()})
    for (const v1::ModelFolder* folder : {&model->base(), &model->adapter()})
      for (const v1::UploadedFile& file : folder->files())
        blobs.push_back({file.digest().sha256(), file.digest().size_bytes()});
  return blobs;
}

absl::Status EvalJobKind::CheckResult(const PendingTask& task, const v1::TaskResult& result) const {
  if (!result.has_eval_result())
    return absl::InvalidArgumentError("an eval task's result carries no prompt outcomes");
  v1::EvalTask planned;
  planned.ParseFromString(task.payload);
  if (planned.has_trigger_search() != result.eval_result().has_trigger_search())
    return absl::InvalidArgumentError(
        planned.has_trigger_search()
            ? "the eval worker returned no trigger search for a trigger-search task (is it older "
              "than the coordinator?)"
            : "the eval worker returned a trigger search for a prompt batch");
  const int outcomes = result.eval_result().outcomes_size();
  if (outcomes != planned.prompts_size())
    return absl::InvalidArgumentError(StrCat("the eval worker returned ", outcomes,
                                             " outcomes for ", planned.prompts_size(),
                                             " prompts (is it older than the coordinator?)"));
  return absl::OkStatus();
}

JobConclusion EvalJobKind::Conclude(JobStore& store, const StoredJob& job) const {
  auto data = EvalReportDataOf(store, job);
  // A job whose results cannot be read is concluded as an error.
  if (!data.ok()) return {"ERROR", 0};
  eval::AbReport report = eval::AbReportFromData(*data);
  return {report.verdict, report.score};
}

absl::StatusOr<v1::Report> EvalJobKind::Report(JobStore& store, const StoredJob& job) const {
  auto data = EvalReportDataOf(store, job);
  if (!data.ok()) return data.status();
  v1::Report report;
  *report.mutable_eval() = std::move(*data);
  return report;
}

}  // namespace gauntlet
