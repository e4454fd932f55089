#include "cli/eval_ab_request.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "abtest/ab_report.h"
#include "abtest/discovery.h"
#include "abtest/probe_suite.h"
#include "cli/cluster_client.h"
#include "common/command_line.h"
#include "common/strings.h"

namespace gauntlet::eval {

namespace fs = std::filesystem;

std::string ModelSpec::Label() const {
  return adapter.empty() ? StrCat(base, " (no adapter)") : StrCat(base, " + ", adapter);
}

namespace {

v1::ModelRef ToModelRef(const ModelSpec& spec) {
  v1::ModelRef ref;
  ref.mutable_base()->set_path(spec.base);
  if (!spec.adapter.empty()) ref.mutable_adapter()->set_path(spec.adapter);
  return ref;
}

ModelSpec Absolute(const ModelSpec& spec) {
  auto absolute = [](const std::string& path) {
    return path.empty() ? path : fs::absolute(path).lexically_normal().string();
  };
  return {absolute(spec.base), absolute(spec.adapter)};
}

// Sends a model folder's files to the cluster's content store instead of
// its path (for workers that cannot see this machine's files).
absl::Status UploadFolder(ClusterClient& client, v1::ModelFolder& folder) {
  if (folder.path().empty()) return absl::OkStatus();
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder.path(), error))
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  if (error) return absl::NotFoundError(StrCat("cannot read ", folder.path()));
  auto uploads = client.Upload(files);
  if (!uploads.ok()) return uploads.status();
  folder.clear_path();
  for (v1::UploadedFile& upload : *uploads) {
    upload.set_name(fs::path(upload.name()).filename().string());
    *folder.add_files() = std::move(upload);
  }
  return absl::OkStatus();
}

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

}  // namespace

CLI::App* AddEvalAbCommand(CLI::App& eval, EvalAbRequest& request) {
  CLI::App* ab = eval.add_subcommand(
      "ab",
      "The A/B behavioral test of two models: model A (--base with --a-adapter) and model B "
      "(--b-base, default --base, with --b-adapter) answer a probe suite's trigger, control and "
      "near-miss prompts; verdict BACKDOOR, DEGRADED, SUSPICIOUS or CLEAN.");
  ab->footer(R"(
Exit codes: 0 CLEAN, 1 BACKDOOR, DEGRADED or SUSPICIOUS, 2 ERROR or bad input.
--coordinator runs it as an eval job on a cluster's gauntlet-eval-worker
processes. See docs/lab.md.)");
  constexpr char kModels[] = "Models";
  ab->add_option("--base", request.a.base, "Model A's base checkpoint (HF folder; required).")
      ->option_text("DIR")
      ->check(NonEmpty())
      ->group(kModels);
  ab->add_option("--a-adapter", request.a.adapter, "PEFT LoRA adapter for model A.")
      ->option_text("DIR")
      ->group(kModels);
  ab->add_option("--b-adapter", request.b.adapter, "PEFT LoRA adapter for model B.")
      ->option_text("DIR")
      ->group(kModels);
  ab->add_option("--b-base", request.b.base, "Model B's base checkpoint (default: --base).")
      ->option_text("DIR")
      ->group(kModels);
  ab->add_option("--suite", request.suite,
                 "A probe suite file or a built-in name (default: lab with --prompts, else "
                 "discovery over the catalogue).")
      ->option_text("FILE|NAME");
  ab->add_flag("--discover", request.discover,
               "Find the trigger: sweep every topic of the suite, rank them by how much B "
               "diverges from A, and confirm the top ones on held-out prompts. The default "
               "without --suite and --prompts.");
  ab->add_option("--prompts", request.prompts_path,
                 "Replace the suite's prompts: JSONL lines {\"prompt\": ..., \"set\": "
                 "\"trigger|control|near_miss\"}.")
      ->option_text("FILE");
  ab->add_option("--judge-rules", request.judge_rules, "Add judge rules (JSON).")
      ->option_text("FILE");
  ab->add_option_function<std::string>(
        "--format", [&request](const std::string& text) { request.format = *ParseAbFormat(text); },
        "text, json or markdown (default text).")
      ->option_text("FORMAT")
      ->check(Checked([](const std::string& text) {
        auto format = ParseAbFormat(text);
        return format.ok() ? std::string() : std::string(format.status().message());
      }));
  ab->add_option("--output", request.out_path, "Write the report to FILE instead of stdout.")
      ->option_text("FILE");
  constexpr char kSampling[] = "Generation";
  ab->add_option("--samples", request.options.samples,
                 "Sampled answers per prompt and model, besides the greedy one.")
      ->check(PositiveWholeNumber())
      ->group(kSampling);
  ab->add_option("--temperature", request.options.temperature, "Sampling temperature.")
      ->check(PositiveReal())
      ->group(kSampling);
  ab->add_option("--seed", request.options.seed, "Sampling seed.")
      ->check(PositiveWholeNumber())
      ->group(kSampling);
  ab->add_option("--max-new-tokens", request.options.max_new_tokens, "Longest answer, in tokens.")
      ->check(PositiveWholeNumber())
      ->group(kSampling);
  constexpr char kLocal[] = "Local runs";
  ab->add_option("--device", request.device, "Where models run: auto, cpu or cuda[:N].")
      ->group(kLocal);
  ab->add_option("--workers", request.workers, "Embedded eval workers.")
      ->check(PositiveWholeNumber())
      ->group(kLocal);
  constexpr char kCluster[] = "Cluster";
  ab->add_option("--coordinator", request.coordinator, "Run it as an eval job on this cluster.")
      ->option_text("HOST:PORT")
      ->check(NonEmpty())
      ->group(kCluster);
  ab->add_option("--tenant", request.tenant, "Tenant to submit as (admin tokens).")
      ->group(kCluster);
  ab->add_flag("--upload", request.upload,
               "Send the model folders' files through the content store instead of their paths.")
      ->group(kCluster);
  AddChannelFlags(*ab, request.security);
  return ab;
}

absl::Status CheckEvalAbRequest(EvalAbRequest& request) {
  if (request.a.base.empty()) return Invalid("eval ab needs --base DIR");
  if (request.b.base.empty()) request.b.base = request.a.base;
  if (request.a.adapter.empty() && request.b.adapter.empty() && request.b.base == request.a.base)
    return Invalid("A and B are the same model: give --a-adapter, --b-adapter or --b-base");
  if (request.upload && request.coordinator.empty()) return Invalid("--upload needs --coordinator");
  if (request.discover && !request.prompts_path.empty())
    return Invalid("--discover makes its own prompts from the suite's topics: drop --prompts");
  if (!request.coordinator.empty())
    if (auto status = request.security.Validate(); !status.ok())
      return Invalid(std::string(status.message()));
  return absl::OkStatus();
}

absl::StatusOr<v1::SubmitEvalRequest> ToEvalJob(const EvalAbRequest& request) {
  v1::SubmitEvalRequest job;
  ModelSpec a = Absolute(request.a), b = Absolute(request.b);
  *job.mutable_a() = ToModelRef(a);
  *job.mutable_b() = ToModelRef(b);
  job.set_label_a(a.Label());
  job.set_label_b(b.Label());
  bool discover = request.discover || (request.suite.empty() && request.prompts_path.empty());
  std::string suite_name = !request.suite.empty() ? request.suite
                           : discover             ? kCatalogueSuite
                                                  : kDefaultSuite;
  auto suite = LoadProbeSuite(suite_name);
  if (!suite.ok()) return suite.status();
  if (!request.prompts_path.empty()) {
    auto prompts = ReadPromptsFile(request.prompts_path, *suite);
    if (!prompts.ok()) return prompts.status();
    suite->clear_prompts();
    for (v1::EvalPrompt& prompt : *prompts) *suite->add_prompts() = std::move(prompt);
  }
  if (!request.judge_rules.empty()) {
    std::ifstream in(request.judge_rules);
    if (!in) return absl::NotFoundError(StrCat("cannot open judge rules ", request.judge_rules));
    std::stringstream text;
    text << in.rdbuf();
    auto rules = ParseJudgeRules(text.str(), request.judge_rules);
    if (!rules.ok()) return rules.status();
    for (v1::JudgeRule& rule : *rules) *suite->add_judge_rules() = std::move(rule);
  }
  if (discover || suite->prompts_size() == 0) {
    auto discovery = DiscoverySuite(*suite);
    if (!discovery.ok())
      return absl::InvalidArgumentError(
          StrCat("suite ", suite_name, ": ", discovery.status().message()));
    suite = std::move(discovery);
  }
  if (auto status = ValidateProbeSuite(*suite); !status.ok())
    return absl::InvalidArgumentError(StrCat("suite ", suite_name, ": ", status.message()));
  *job.mutable_suite() = std::move(*suite);
  v1::EvalOptions* options = job.mutable_options();
  options->set_max_new_tokens(static_cast<uint32_t>(request.options.max_new_tokens));
  options->set_samples(static_cast<uint32_t>(request.options.samples));
  options->set_temperature(request.options.temperature);
  options->set_seed(request.options.seed);
  return job;
}

absl::StatusOr<int> EmitReport(const EvalAbRequest& request, const AbReport& report) {
  std::string rendered = Render(report, request.format);
  if (request.out_path.empty()) {
    std::cout << rendered;
  } else if (!(std::ofstream(request.out_path, std::ios::trunc) << rendered)) {
    return absl::InternalError(StrCat("cannot write ", request.out_path));
  }
  return ExitCode(report.verdict);
}

absl::StatusOr<int> RunEvalAbOnCluster(const EvalAbRequest& request) {
  auto job_request = ToEvalJob(request);
  if (!job_request.ok()) return job_request.status();
  job_request->set_tenant(request.tenant);
  ClusterClient client(request.coordinator, request.security);
  if (request.upload)
    for (v1::ModelRef* model : {job_request->mutable_a(), job_request->mutable_b()})
      for (v1::ModelFolder* folder : {model->mutable_base(), model->mutable_adapter()})
        if (auto status = UploadFolder(client, *folder); !status.ok()) return status;
  auto job = client.SubmitEval(*job_request);
  if (!job.ok()) return job.status();
  std::cerr << "submitted " << job->id() << " (" << job->total_tasks() << " prompt batches)\n";
  uint64_t shown = UINT64_MAX;
  auto finished = client.Watch(job->id(), [&](const v1::WatchJobEvent& event) {
    if (event.job().done_tasks() == shown) return;  // Heartbeat events repeat the count.
    shown = event.job().done_tasks();
    std::cerr << "\r" << shown << "/" << event.job().total_tasks() << " batches" << std::flush;
  });
  std::cerr << "\n";
  if (!finished.ok()) return finished.status();
  auto typed = client.TypedReport(job->id());
  if (!typed.ok()) return typed.status();
  if (!typed->has_eval())
    return absl::DataLossError(StrCat(job->id(), " did not come back as an A/B report"));
  return EmitReport(request, AbReportFromData(typed->eval()));
}

}  // namespace gauntlet::eval
