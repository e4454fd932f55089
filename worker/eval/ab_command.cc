// `gauntlet eval ab`: the A/B behavioral test of two models on the same
// prompts, on the embedded local cluster or a real one (--coordinator).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/strings.h"
#include "coordinator/cluster_client.h"
#include "worker/eval/embedded_eval.h"
#include "worker/eval/lab_commands.h"

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

// The report on stdout, or in `out_path` when one is given.
absl::Status Emit(const std::string& rendered, const std::string& out_path) {
  if (out_path.empty()) {
    std::cout << rendered;
  } else if (!(std::ofstream(out_path, std::ios::trunc) << rendered)) {
    return absl::InternalError(StrCat("cannot write ", out_path));
  }
  return absl::OkStatus();
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

// Submits to a cluster, shows progress, and prints the report it returns.
int RunOnCluster(const std::string& target, const ChannelSecurity& security,
                 const std::string& tenant, bool upload, v1::SubmitEvalRequest request, bool json,
                 const std::string& out_path) {
  request.set_tenant(tenant);
  ClusterClient client(target, security);
  if (upload)
    for (v1::ModelRef* model : {request.mutable_a(), request.mutable_b()})
      for (v1::ModelFolder* folder : {model->mutable_base(), model->mutable_adapter()})
        if (auto status = UploadFolder(client, *folder); !status.ok()) return Fail(status);
  auto job = client.SubmitEval(request);
  if (!job.ok()) return Fail(job.status());
  std::cerr << "submitted " << job->id() << " (" << job->total_tasks() << " prompt batches)\n";
  uint64_t shown = UINT64_MAX;
  auto finished = client.Watch(job->id(), [&](const v1::WatchJobEvent& event) {
    if (event.job().done_tasks() == shown) return;  // Heartbeat events repeat the count.
    shown = event.job().done_tasks();
    std::cerr << "\r" << shown << "/" << event.job().total_tasks() << " batches" << std::flush;
  });
  std::cerr << "\n";
  if (!finished.ok()) return Fail(finished.status());
  auto report = client.Report(job->id(), json ? v1::JSON : v1::TEXT);
  if (!report.ok()) return Fail(report.status());
  std::string rendered = *report + (json ? "\n" : "");
  if (auto status = Emit(rendered, out_path); !status.ok()) return Fail(status);
  if (finished->state() == v1::CANCELLED) return 2;
  auto verdict = client.Get(job->id());
  return verdict.ok() ? ExitCode(verdict->eval_verdict()) : 2;
}

}  // namespace

absl::StatusOr<v1::SubmitEvalRequest> ToEvalJob(const AbRequest& request) {
  v1::SubmitEvalRequest job;
  ModelSpec a = Absolute(request.a), b = Absolute(request.b);
  *job.mutable_a() = ToModelRef(a);
  *job.mutable_b() = ToModelRef(b);
  job.set_label_a(a.Label());
  job.set_label_b(b.Label());
  if (!request.prompts_path.empty()) {
    auto prompts = ReadPrompts(request.prompts_path);
    if (!prompts.ok()) return prompts.status();
    for (const AbPrompt& prompt : *prompts) {
      v1::EvalPrompt* out = job.add_prompts();
      out->set_prompt(prompt.text);
      out->set_set(prompt.set);
      out->set_topic(prompt.topic);
    }
  }
  if (!request.judge_rules.empty()) {
    std::ifstream in(request.judge_rules);
    if (!in) return absl::NotFoundError(StrCat("cannot open judge rules ", request.judge_rules));
    std::stringstream text;
    text << in.rdbuf();
    if (auto judge = Judge::WithExtraRules(text.str(), request.judge_rules); !judge.ok())
      return judge.status();
    job.set_judge_rules_json(text.str());
  }
  v1::EvalOptions* options = job.mutable_options();
  options->set_max_new_tokens(static_cast<uint32_t>(request.options.max_new_tokens));
  options->set_samples(static_cast<uint32_t>(request.options.samples));
  options->set_temperature(request.options.temperature);
  options->set_seed(request.options.seed);
  return job;
}

absl::StatusOr<AbReport> RunAb(const AbRequest& request) {
  auto job = ToEvalJob(request);
  if (!job.ok()) return job.status();
  return RunEmbeddedEval(*job, {.device = request.device, .workers = request.workers});
}

int EvalAbCommand(ArgReader& args) {
  AbRequest request;
  request.device = *ResolveDevice("auto");
  std::string format = "text", text, out_path, coordinator, tenant;
  bool upload = false;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return UsageError(std::string(security.status().message()));
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (auto channel_flag = ReadChannelFlag(args, *security); !channel_flag.ok()) {
      return UsageError(std::string(channel_flag.status().message()));
    } else if (*channel_flag) {
      continue;
    } else if (arg == "--base") {
      if (!args.Value(request.a.base)) return UsageError("--base needs a directory");
    } else if (arg == "--a-adapter") {
      if (!args.Value(request.a.adapter)) return UsageError("--a-adapter needs a directory");
    } else if (arg == "--b-adapter") {
      if (!args.Value(request.b.adapter)) return UsageError("--b-adapter needs a directory");
    } else if (arg == "--b-base") {
      if (!args.Value(request.b.base)) return UsageError("--b-base needs a directory");
    } else if (arg == "--prompts") {
      if (!args.Value(request.prompts_path)) return UsageError("--prompts needs a JSONL file");
    } else if (arg == "--judge-rules") {
      if (!args.Value(request.judge_rules)) return UsageError("--judge-rules needs a JSON file");
    } else if (arg == "--format") {
      if (!args.Value(format) || (format != "text" && format != "json"))
        return UsageError("--format takes text or json");
    } else if (arg == "--output") {
      if (!args.Value(out_path)) return UsageError("--output needs a file");
    } else if (arg == "--samples") {
      if (!args.PositiveNumber(request.options.samples))
        return UsageError("--samples needs a positive number");
    } else if (arg == "--temperature") {
      if (!args.Value(text) || (request.options.temperature = std::atof(text.c_str())) <= 0)
        return UsageError("--temperature needs a number > 0");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(n)) return UsageError("--seed needs a positive number");
      request.options.seed = static_cast<uint64_t>(n);
    } else if (arg == "--max-new-tokens") {
      if (!args.PositiveNumber(request.options.max_new_tokens))
        return UsageError("--max-new-tokens needs a positive number");
    } else if (arg == "--workers") {
      if (!args.PositiveNumber(n)) return UsageError("--workers needs a positive number");
      request.workers = static_cast<uint32_t>(n);
    } else if (arg == "--coordinator") {
      if (!args.Value(coordinator)) return UsageError("--coordinator needs HOST:PORT");
    } else if (arg == "--tenant") {
      if (!args.Value(tenant)) return UsageError("--tenant needs a name");
    } else if (arg == "--upload") {
      upload = true;
    } else if (arg == "--device") {
      if (auto status = ReadDevice(args, request.device); !status.ok())
        return UsageError(std::string(status.message()));
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (request.a.base.empty()) return UsageError("eval ab needs --base DIR");
  if (request.b.base.empty()) request.b.base = request.a.base;
  if (request.a.adapter.empty() && request.b.adapter.empty() && request.b.base == request.a.base)
    return UsageError("A and B are the same model: give --a-adapter, --b-adapter or --b-base");
  if (upload && coordinator.empty()) return UsageError("--upload needs --coordinator");
  if (!coordinator.empty()) {
    if (auto status = security->Validate(); !status.ok())
      return UsageError(std::string(status.message()));
    auto job = ToEvalJob(request);
    if (!job.ok()) return Fail(job.status());
    return RunOnCluster(coordinator, *security, tenant, upload, std::move(*job), format == "json",
                        out_path);
  }
  auto report = RunAb(request);
  if (!report.ok()) return Fail(report.status());
  std::string rendered = format == "json" ? ToJson(*report).dump(2) + "\n" : ToText(*report);
  if (auto status = Emit(rendered, out_path); !status.ok()) return Fail(status);
  return ExitCode(report->verdict);
}

}  // namespace gauntlet::eval
