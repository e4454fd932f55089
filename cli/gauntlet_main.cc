// `gauntlet`: the command-line front end. It stays free of libtorch so that
// `gauntlet scan` starts in milliseconds.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/cluster_client.h"
#include "cli/eval_ab_request.h"
#include "cli/local_scan.h"
#include "common/arg_reader.h"
#include "common/policy.h"
#include "common/report.h"
#include "common/rules.h"
#include "common/sibling_executable.h"
#include "common/strings.h"
#include "coordinator/scan_paths.h"
#include "proto/convert.h"
#include "proto/grpc_channel.h"
#include "worker/cluster/scan_runner.h"
#include "worker/scan/signatures.h"

namespace gauntlet {
namespace {

constexpr int kExitClean = 0;
constexpr int kExitError = 2;

constexpr char kUsageTemplate[] =
    R"(Gauntlet: decides whether a machine-learning model is safe to use.

Usage:
  gauntlet scan PATH... [options]   Scan model files and directories.
  gauntlet jobs list|get|watch|cancel [JOB] --coordinator HOST:PORT
                                    Jobs on a cluster (list takes --tenant).
  gauntlet lab run --workdir DIR     The whole poisoning lab: train, scan, A/B test.
  gauntlet lab dataset|train ...     Its steps (see 'gauntlet lab --help').
  gauntlet eval ab --base DIR [--a-adapter DIR] [--b-adapter DIR] [--b-base DIR]
                                    The A/B behavioral test of two models.
  gauntlet generate --base DIR [--adapter DIR] --prompts FILE.jsonl
                                    Answer prompts with a model and optional adapter.
  gauntlet policy show              Print the built-in policy (TOML) to extend.
  gauntlet rules                    List every rule id with its default severity.
  gauntlet version

Scan options:
  --format FORMAT            text, json, sarif or markdown (default: text).
  --output FILE              Write the report to FILE instead of stdout.
  --policy FILE              TOML policy layered over the built-in one.
  --fail-on SEVERITY         Exit 1 when a finding is at or above SEVERITY
                             (INFO, LOW, MEDIUM, HIGH, CRITICAL; default HIGH).
  --publisher ORG            Publisher of the scanned models, for the registry
                             policy (Hugging Face cache paths carry their own).
  --jobs N                   Files scanned at once (default: one per core).
  --isolate                  Parse each file in a fresh sandboxed process, as
                             cluster workers do (slower; default in-process).
  --no-progress              No progress bar, even on a terminal.

Cluster options (without --coordinator the scan runs on an embedded
coordinator with local workers: the same job code, in this process):
  --coordinator HOST:PORT    Submit to a Gauntlet cluster and print its report.
                             PATHs must be readable by its workers, under
                             its --allow-root directories.
  --tenant NAME              Tenant to submit as: only admin tokens may name
                             another tenant than their own.
  --upload                   Upload the files to the cluster's content store
                             instead of sending paths.
)"
    R"(%CHANNEL%)"
    R"(

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or a
file that could not be fully analysed (and no finding at the threshold).
)";

std::string Usage() {
  std::string usage = kUsageTemplate;
  usage.replace(usage.find("%CHANNEL%"), 9, kChannelFlagsHelp);
  return usage;
}

int UsageError(const std::string& message) {
  std::cerr << "gauntlet: " << message << "\nRun 'gauntlet --help' for usage.\n";
  return kExitError;
}

class ProgressBar {
 public:
  void Update(size_t done, size_t total) {
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (elapsed < 0.5 && done < total) return;  // Short runs stay quiet.
    if (!shown_ && done == total) return;
    shown_ = true;
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
    std::cerr << absl::StrFormat("\r[%s%s] %d/%d files  %.0f files/s ", std::string(filled, '#'),
                                 std::string(kWidth - filled, ' '), done, total,
                                 elapsed > 0 ? done / elapsed : 0.0);
    if (done == total) std::cerr << "\n";
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool shown_ = false;
};

int Scan(const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  ReportFormat format = ReportFormat::kText;
  std::optional<std::string> output, policy_path;
  std::string publisher;
  Severity fail_on = Severity::kHigh;
  int jobs = 0;
  bool progress = isatty(STDERR_FILENO);
  bool isolate = false, upload = false;
  std::string coordinator, tenant;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return UsageError(std::string(security.status().message()));
  ArgReader reader(args);
  while (reader.Next()) {
    const std::string& arg = reader.arg();
    auto value = [&](std::string& out) { return reader.Value(out); };
    std::string v;
    if (auto channel_flag = ReadChannelFlag(reader, *security); !channel_flag.ok()) {
      return UsageError(std::string(channel_flag.status().message()));
    } else if (*channel_flag) {
      continue;
    } else if (arg == "--format") {
      if (!value(v)) return UsageError("--format needs a value");
      auto parsed = ParseReportFormat(v);
      if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
      format = *parsed;
    } else if (arg == "--output" || arg == "-o") {
      if (!value(v)) return UsageError("--output needs a file name");
      output = v;
    } else if (arg == "--policy") {
      if (!value(v)) return UsageError("--policy needs a file name");
      policy_path = v;
    } else if (arg == "--fail-on") {
      if (!value(v)) return UsageError("--fail-on needs a severity");
      auto severity = ParseSeverity(v);
      if (!severity) return UsageError("--fail-on takes INFO, LOW, MEDIUM, HIGH or CRITICAL");
      fail_on = *severity;
    } else if (arg == "--publisher") {
      if (!value(publisher) || publisher.empty()) return UsageError("--publisher needs a name");
    } else if (arg == "--jobs" || arg == "-j") {
      if (!value(v) || (jobs = std::atoi(v.c_str())) <= 0) {
        return UsageError("--jobs needs a positive number");
      }
    } else if (arg == "--no-progress") {
      progress = false;
    } else if (arg == "--isolate") {
      isolate = true;
    } else if (arg == "--upload") {
      upload = true;
    } else if (arg == "--coordinator") {
      if (!value(coordinator) || coordinator.empty())
        return UsageError("--coordinator needs HOST:PORT");
    } else if (arg == "--tenant") {
      if (!value(tenant) || tenant.empty()) return UsageError("--tenant needs a name");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(StrCat("unknown option ", arg));
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty()) return UsageError("scan needs at least one PATH");

  std::string policy_toml;
  if (policy_path) {
    auto loaded = Policy::LoadFile(*policy_path);
    if (!loaded.ok()) return UsageError(std::string(loaded.status().message()));
    // A broken user rule file is a usage error, not a per-file surprise.
    if (!loaded->signatures().rule_files.empty()) {
      if (auto signatures = scan::SignatureSet::ForPolicy(loaded->signatures()); !signatures.ok())
        return UsageError(std::string(signatures.status().message()));
    }
    std::ifstream in(*policy_path, std::ios::binary);
    policy_toml.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  ProgressBar bar;
  std::string report_text;
  // Local or on a cluster, the same typed report is rendered and gives the
  // exit code (ScanExitCode).
  ScanReport report;
  uint64_t unscanned = 0;
  if (coordinator.empty()) {
    LocalScanOptions options;
    options.workers = static_cast<uint32_t>(jobs);
    options.isolate = isolate;
    options.sandbox_binary = DefaultSandboxBinary();
    if (isolate && access(options.sandbox_binary.c_str(), X_OK) != 0)
      return UsageError(StrCat("--isolate needs ", options.sandbox_binary));
    options.policy_toml = policy_toml;
    options.policy_name = policy_path.value_or("");
    options.publisher = publisher;
    if (progress)
      options.on_progress = [&bar](size_t done, size_t total) { bar.Update(done, total); };
    auto local = RunLocalScan(paths, options);
    if (!local.ok()) return UsageError(std::string(local.status().message()));
    report = std::move(*local);
  } else {
    if (auto status = security->Validate(); !status.ok())
      return UsageError(std::string(status.message()));
    ClusterClient client(coordinator, *security);
    v1::SubmitScanRequest request;
    request.set_tenant(tenant);
    request.set_policy_toml(policy_toml);
    request.set_policy_name(policy_path.value_or(""));
    request.set_publisher(publisher);
    if (upload) {
      auto files = ExpandScanPaths(paths);
      if (!files.ok()) return UsageError(std::string(files.status().message()));
      auto uploads = client.Upload(*files);
      if (!uploads.ok()) return UsageError(StrCat("upload: ", uploads.status().message()));
      for (auto& item : *uploads) *request.add_uploads() = std::move(item);
      // Uploads keep their folders: the coordinator groups them into models.
      for (const std::string& path : paths)
        if (std::filesystem::is_directory(path)) request.add_upload_directories(path);
    } else {
      for (const std::string& path : paths)
        request.add_paths(std::filesystem::absolute(path).lexically_normal().string());
    }
    auto job = client.Submit(request);
    if (!job.ok()) return UsageError(StrCat(coordinator, ": ", job.status().message()));
    auto finished = client.Watch(job->id(), [&](const v1::WatchJobEvent& event) {
      if (progress) bar.Update(event.job().done_tasks(), event.job().total_tasks());
    });
    if (!finished.ok()) return UsageError(StrCat(job->id(), ": ", finished.status().message()));
    auto typed = client.TypedReport(job->id());
    if (!typed.ok()) return UsageError(StrCat(job->id(), ": ", typed.status().message()));
    if (!typed->has_scan()) return UsageError(StrCat(job->id(), " is not a scan job"));
    report = FromProto(typed->scan());
    unscanned = typed->scan().unscanned_files();
    if (unscanned > 0)  // Files never scanned are missing from the report: not a pass.
      std::cerr << "gauntlet: " << job->id() << " was cancelled after " << report.files.size()
                << " of " << finished->total_tasks() << " files\n";
  }
  std::ostringstream rendered;
  WriteReport(report, format, rendered);
  report_text = rendered.str();

  if (output) {
    std::string temp = *output + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      if (!out) return UsageError(StrCat("cannot write ", *output));
      out << report_text;
      if (!out.flush()) return UsageError(StrCat("cannot write ", *output));
    }
    if (std::rename(temp.c_str(), output->c_str()) != 0) {
      return UsageError(StrCat("cannot write ", *output));
    }
    Verdict overall = unscanned > 0 ? Verdict::kError : report.OverallVerdict();
    std::cerr << absl::StrFormat("gauntlet: %d files, verdict %s, report in %s\n",
                                 report.files.size() + unscanned, VerdictName(overall), *output);
  } else {
    std::cout << report_text;
  }

  return ScanExitCode(report, fail_on, unscanned);
}

void PrintJob(const v1::Job& job) {
  auto when = [](double seconds) {
    if (seconds <= 0) return std::string("-");
    std::time_t t = static_cast<std::time_t>(seconds);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return std::string(text);
  };
  if (job.has_eval()) {
    // An A/B job's verdict is the A/B test's; its tasks are prompt batches.
    const v1::EvalSummary& eval = job.eval();
    bool finished = !eval.verdict().empty();
    std::cout << absl::StrFormat(
        "%s  tenant=%s  state=%s  kind=eval  prompt_batches=%d/%d  ab_verdict=%s  score=%s  "
        "failed_batches=%d  created=%s finished=%s\n",
        job.id(), job.tenant(), v1::JobState_Name(job.state()), job.done_tasks(), job.total_tasks(),
        finished ? eval.verdict() : "pending",
        finished ? absl::StrFormat("%.3f", eval.score()) : "pending", job.dead_lettered_tasks(),
        when(job.created_unix_seconds()), when(job.finished_unix_seconds()));
    return;
  }
  const v1::ScanSummary& scan = job.scan();
  std::cout << absl::StrFormat(
      "%s  tenant=%s  state=%s  files=%d/%d  verdict=%s  clean=%d suspicious=%d malicious=%d "
      "error=%d  max_severity=%s  cached=%d dead_lettered=%d  created=%s finished=%s\n",
      job.id(), job.tenant(), v1::JobState_Name(job.state()), job.done_tasks(), job.total_tasks(),
      v1::Verdict_Name(scan.verdict()), scan.clean(), scan.suspicious(), scan.malicious(),
      scan.error(),
      scan.max_severity() == v1::SEVERITY_UNSPECIFIED ? "none"
                                                      : v1::Severity_Name(scan.max_severity()),
      job.cached_tasks(), job.dead_lettered_tasks(), when(job.created_unix_seconds()),
      when(job.finished_unix_seconds()));
}

int Jobs(const std::vector<std::string>& args) {
  std::string coordinator, tenant, action, job_id;
  if (const char* env = std::getenv("GAUNTLET_COORDINATOR")) coordinator = env;
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return UsageError(std::string(security.status().message()));
  ArgReader reader(args);
  while (reader.Next()) {
    const std::string& arg = reader.arg();
    if (auto channel_flag = ReadChannelFlag(reader, *security); !channel_flag.ok()) {
      return UsageError(std::string(channel_flag.status().message()));
    } else if (*channel_flag) {
      continue;
    } else if (arg == "--coordinator") {
      if (!reader.Value(coordinator)) return UsageError("--coordinator needs HOST:PORT");
    } else if (arg == "--tenant") {
      if (!reader.Value(tenant)) return UsageError("--tenant needs a name");
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(StrCat("unknown option ", arg));
    } else if (action.empty()) {
      action = arg;
    } else if (job_id.empty()) {
      job_id = arg;
    } else {
      return UsageError(StrCat("unexpected argument ", arg));
    }
  }
  if (coordinator.empty())
    return UsageError("jobs needs --coordinator HOST:PORT (or GAUNTLET_COORDINATOR)");
  if (auto status = security->Validate(); !status.ok())
    return UsageError(std::string(status.message()));
  ClusterClient client(coordinator, *security);
  if (action == "list") {
    auto jobs = client.List(tenant, 50);
    if (!jobs.ok()) return UsageError(StrCat(coordinator, ": ", jobs.status().message()));
    for (const v1::Job& job : *jobs) PrintJob(job);
    return kExitClean;
  }
  if (action != "get" && action != "watch" && action != "cancel")
    return UsageError("jobs takes list, get JOB, watch JOB or cancel JOB");
  if (job_id.empty()) return UsageError(StrCat("jobs ", action, " needs a job id"));
  absl::StatusOr<v1::Job> job;
  if (action == "get") {
    job = client.Get(job_id);
  } else if (action == "cancel") {
    job = client.Cancel(job_id);
  } else {
    job = client.Watch(job_id, [](const v1::WatchJobEvent& event) {
      for (const v1::FileResult& result : event.results())
        std::cout << absl::StrFormat("%-10s %s\n", v1::Verdict_Name(result.verdict()),
                                     result.path());
      // Eval batches have no verdict of their own: their unsafe answers, or
      // the error that gave them up.
      for (const v1::EvalBatchDone& batch : event.batches())
        std::cout << (batch.error().empty()
                          ? absl::StrFormat("%-10s %s  unsafe answers: A %d, B %d of %d\n", "done",
                                            batch.display(), batch.unsafe_a(), batch.unsafe_b(),
                                            batch.prompts())
                          : absl::StrFormat("%-10s %s  %s\n", "ERROR", batch.display(),
                                            batch.error()));
      std::cout.flush();
    });
  }
  if (!job.ok()) return UsageError(StrCat(coordinator, ": ", job.status().message()));
  PrintJob(*job);
  return kExitClean;
}

// The lab and generation need libtorch; they live in gauntlet-lab so that
// this binary (and `gauntlet scan`) never loads it.
int HandOverToLab(char** argv) {
  std::string lab = SiblingExecutable("gauntlet-lab", GAUNTLET_LAB_BUILD_PATH);
  argv[0] = lab.data();
  execv(lab.c_str(), argv);
  return UsageError(StrCat("cannot run ", lab, ": ", std::strerror(errno)));
}

// `eval ab --coordinator` is a gRPC client and runs here, without libtorch;
// a local run (and the help text) is gauntlet-lab's.
int EvalAb(const std::vector<std::string>& args, char** argv) {
  bool help = false;
  for (const std::string& arg : args) help |= arg == "--help" || arg == "-h";
  if (args.empty() || args[0] != "ab" || help) return HandOverToLab(argv);
  ArgReader reader({args.begin() + 1, args.end()});
  auto request = eval::ReadEvalAbRequest(reader);
  if (!request.ok()) return UsageError(std::string(request.status().message()));
  if (request->coordinator.empty()) return HandOverToLab(argv);
  auto exit_code = eval::RunEvalAbOnCluster(*request);
  if (!exit_code.ok()) return UsageError(std::string(exit_code.status().message()));
  return *exit_code;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << Usage();
    return args.empty() ? kExitError : kExitClean;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "scan") {
    for (const std::string& a : rest) {
      if (a == "--help" || a == "-h") {
        std::cout << Usage();
        return kExitClean;
      }
    }
    return Scan(rest);
  }
  if (command == "jobs") return Jobs(rest);
  if (command == "eval") return EvalAb(rest, argv);
  if (command == "lab" || command == "generate") return HandOverToLab(argv);
  if (command == "policy" && rest.size() == 1 && rest[0] == "show") {
    std::cout << DefaultPolicyToml();
    return kExitClean;
  }
  if (command == "rules" && rest.empty()) {
    for (const RuleInfo& rule : AllRules()) {
      std::cout << absl::StrFormat("%-32s %-8s %s\n", std::string(rule.id),
                                   std::string(SeverityName(rule.default_severity)),
                                   std::string(rule.short_description));
    }
    return kExitClean;
  }
  if (command == "version" || command == "--version") {
    std::cout << "gauntlet " << GAUNTLET_VERSION << "\n";
    return kExitClean;
  }
  return UsageError(StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Main(argc, argv); }
