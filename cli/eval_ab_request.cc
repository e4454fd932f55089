#include "cli/eval_ab_request.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "abtest/ab_report.h"
#include "abtest/probe_suite.h"
#include "cli/cluster_client.h"
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

absl::StatusOr<EvalAbRequest> ReadEvalAbRequest(ArgReader& args) {
  EvalAbRequest request;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return security.status();
  request.security = *security;
  std::string text;
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (auto channel_flag = ReadChannelFlag(args, request.security); !channel_flag.ok()) {
      return channel_flag.status();
    } else if (*channel_flag) {
      continue;
    } else if (arg == "--base") {
      if (!args.Value(request.a.base)) return Invalid("--base needs a directory");
    } else if (arg == "--a-adapter") {
      if (!args.Value(request.a.adapter)) return Invalid("--a-adapter needs a directory");
    } else if (arg == "--b-adapter") {
      if (!args.Value(request.b.adapter)) return Invalid("--b-adapter needs a directory");
    } else if (arg == "--b-base") {
      if (!args.Value(request.b.base)) return Invalid("--b-base needs a directory");
    } else if (arg == "--suite") {
      if (!args.Value(request.suite))
        return Invalid("--suite needs a suite file or a built-in name");
    } else if (arg == "--prompts") {
      if (!args.Value(request.prompts_path)) return Invalid("--prompts needs a JSONL file");
    } else if (arg == "--judge-rules") {
      if (!args.Value(request.judge_rules)) return Invalid("--judge-rules needs a JSON file");
    } else if (arg == "--format") {
      if (!args.Value(text)) return Invalid("--format takes text, json or markdown");
      auto format = ParseAbFormat(text);
      if (!format.ok()) return Invalid(std::string(format.status().message()));
      request.format = *format;
    } else if (arg == "--output") {
      if (!args.Value(request.out_path)) return Invalid("--output needs a file");
    } else if (arg == "--samples") {
      if (!args.PositiveNumber(request.options.samples))
        return Invalid("--samples needs a positive number");
    } else if (arg == "--temperature") {
      if (!args.Value(text) || (request.options.temperature = std::atof(text.c_str())) <= 0)
        return Invalid("--temperature needs a number > 0");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(n)) return Invalid("--seed needs a positive number");
      request.options.seed = static_cast<uint64_t>(n);
    } else if (arg == "--max-new-tokens") {
      if (!args.PositiveNumber(request.options.max_new_tokens))
        return Invalid("--max-new-tokens needs a positive number");
    } else if (arg == "--workers") {
      if (!args.PositiveNumber(n)) return Invalid("--workers needs a positive number");
      request.workers = static_cast<uint32_t>(n);
    } else if (arg == "--coordinator") {
      if (!args.Value(request.coordinator)) return Invalid("--coordinator needs HOST:PORT");
    } else if (arg == "--tenant") {
      if (!args.Value(request.tenant)) return Invalid("--tenant needs a name");
    } else if (arg == "--upload") {
      request.upload = true;
    } else if (arg == "--device") {
      if (!args.Value(request.device)) return Invalid("--device needs auto, cpu or cuda[:N]");
    } else {
      return Invalid(StrCat("unknown option ", arg));
    }
  }
  if (request.a.base.empty()) return Invalid("eval ab needs --base DIR");
  if (request.b.base.empty()) request.b.base = request.a.base;
  if (request.a.adapter.empty() && request.b.adapter.empty() && request.b.base == request.a.base)
    return Invalid("A and B are the same model: give --a-adapter, --b-adapter or --b-base");
  if (request.upload && request.coordinator.empty()) return Invalid("--upload needs --coordinator");
  if (!request.coordinator.empty())
    if (auto status = request.security.Validate(); !status.ok())
      return Invalid(std::string(status.message()));
  return request;
}

absl::StatusOr<v1::SubmitEvalRequest> ToEvalJob(const EvalAbRequest& request) {
  v1::SubmitEvalRequest job;
  ModelSpec a = Absolute(request.a), b = Absolute(request.b);
  *job.mutable_a() = ToModelRef(a);
  *job.mutable_b() = ToModelRef(b);
  job.set_label_a(a.Label());
  job.set_label_b(b.Label());
  auto suite = LoadProbeSuite(request.suite);
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
  if (auto status = ValidateProbeSuite(*suite); !status.ok())
    return absl::InvalidArgumentError(StrCat("suite ", request.suite, ": ", status.message()));
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
