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
#include "cli/audit_command.h"
#include "cli/cluster_client.h"
#include "cli/eval_ab_request.h"
#include "cli/inspect_command.h"
#include "cli/local_scan.h"
#include "cli/model_signing_commands.h"
#include "common/command_line.h"
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

constexpr char kExitCodes[] = R"(
Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage error or a
file that could not be fully analysed (and no finding at the threshold).)";

// A failure after the command line was read: the message alone, exit 2.
int Fail(std::string_view message) {
  std::cerr << "gauntlet: " << message << "\n";
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

// `gauntlet scan`'s flags, as parsed.
struct ScanRequest {
  std::vector<std::string> paths;
  std::string format = "text";
  std::optional<std::string> output, policy_path, signature_key;
  std::string publisher;
  std::string fail_on = "HIGH";
  int jobs = 0;
  bool no_progress = false, isolate = false, upload = false;
  std::string coordinator, tenant;
};

CLI::App* AddScanCommand(CLI::App& app, ScanRequest& r, ChannelSecurity& security) {
  CLI::App* scan = app.add_subcommand("scan", "Scan model files and directories.");
  scan->footer(StrCat(R"(
Without --coordinator the scan runs on an embedded coordinator with local
workers: the same job code, in this process.)",
                      kExitCodes));
  scan->add_option("PATH", r.paths, "Model files and directories.")->required();
  scan->add_option("--format", r.format, "text, json, sarif or markdown (default: text).")
      ->option_text("FORMAT")
      ->check(Checked([](const std::string& text) {
        auto parsed = ParseReportFormat(text);
        return parsed.ok() ? std::string() : std::string(parsed.status().message());
      }));
  scan->add_option("-o,--output", r.output, "Write the report to FILE instead of stdout.")
      ->option_text("FILE");
  scan->add_option("--policy", r.policy_path, "TOML policy layered over the built-in one.")
      ->option_text("FILE");
  scan->add_option("--fail-on", r.fail_on,
                   "Exit 1 when a finding is at or above SEVERITY (INFO, LOW, MEDIUM, HIGH, "
                   "CRITICAL; default HIGH).")
      ->option_text("SEVERITY")
      ->check(Checked([](const std::string& text) {
        return ParseSeverity(text)
                   ? std::string()
                   : StrCat("takes INFO, LOW, MEDIUM, HIGH or CRITICAL, not '", text, "'");
      }));
  scan->add_option("--publisher", r.publisher,
                   "Publisher of the scanned models, for the registry policy (Hugging Face "
                   "cache paths carry their own).")
      ->option_text("ORG")
      ->check(NonEmpty());
  scan->add_option("-j,--jobs", r.jobs, "Files scanned at once (default: one per core).")
      ->check(PositiveWholeNumber());
  scan->add_option("--verify-signature", r.signature_key,
                   "Check every folder among PATHs against its model.sig (gauntlet sign) with "
                   "this PEM public key: a missing, invalid or outdated signature is a finding.")
      ->option_text("PUBLIC.pem");
  scan->add_flag("--isolate", r.isolate,
                 "Parse each file in a fresh sandboxed process, as cluster workers do (slower; "
                 "default in-process).");
  scan->add_flag("--no-progress", r.no_progress, "No progress bar, even on a terminal.");
  constexpr char kCluster[] = "Cluster";
  scan->add_option("--coordinator", r.coordinator,
                   "Submit to a Gauntlet cluster and print its report. PATHs must be readable "
                   "by its workers, under its --allow-root directories.")
      ->option_text("HOST:PORT")
      ->check(NonEmpty())
      ->group(kCluster);
  scan->add_option("--tenant", r.tenant,
                   "Tenant to submit as: only admin tokens may name another tenant than their "
                   "own.")
      ->check(NonEmpty())
      ->group(kCluster);
  scan->add_flag("--upload", r.upload,
                 "Upload the files to the cluster's content store instead of sending paths.")
      ->group(kCluster);
  AddChannelFlags(*scan, security);
  return scan;
}

int Scan(const ScanRequest& r, const ChannelSecurity& security) {
  const std::vector<std::string>& paths = r.paths;
  const std::optional<std::string>& output = r.output;
  const std::optional<std::string>& policy_path = r.policy_path;
  const std::string& coordinator = r.coordinator;
  ReportFormat format = *ParseReportFormat(r.format);
  Severity fail_on = *ParseSeverity(r.fail_on);
  bool progress = !r.no_progress && isatty(STDERR_FILENO);
  std::string policy_toml;
  if (policy_path) {
    auto loaded = Policy::LoadFile(*policy_path);
    if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
    // A broken user rule file is a usage error, not a per-file surprise.
    if (!loaded->signatures().rule_files.empty()) {
      if (auto signatures = scan::SignatureSet::ForPolicy(loaded->signatures()); !signatures.ok())
        return Fail(std::string(signatures.status().message()));
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
    options.workers = static_cast<uint32_t>(r.jobs);
    options.isolate = r.isolate;
    options.sandbox_binary = DefaultSandboxBinary();
    if (r.isolate && access(options.sandbox_binary.c_str(), X_OK) != 0)
      return Fail(StrCat("--isolate needs ", options.sandbox_binary));
    options.policy_toml = policy_toml;
    options.policy_name = policy_path.value_or("");
    options.publisher = r.publisher;
    if (progress)
      options.on_progress = [&bar](size_t done, size_t total) { bar.Update(done, total); };
    auto local = RunLocalScan(paths, options);
    if (!local.ok()) return Fail(std::string(local.status().message()));
    report = std::move(*local);
  } else {
    if (auto status = security.Validate(); !status.ok()) return Fail(std::string(status.message()));
    ClusterClient client(coordinator, security);
    v1::SubmitScanRequest request;
    request.set_tenant(r.tenant);
    request.set_policy_toml(policy_toml);
    request.set_policy_name(policy_path.value_or(""));
    request.set_publisher(r.publisher);
    if (r.upload) {
      auto files = ExpandScanPaths(paths);
      if (!files.ok()) return Fail(std::string(files.status().message()));
      auto uploads = client.Upload(*files);
      if (!uploads.ok()) return Fail(StrCat("upload: ", uploads.status().message()));
      for (auto& item : *uploads) *request.add_uploads() = std::move(item);
      // Uploads keep their folders: the coordinator groups them into models.
      for (const std::string& path : paths)
        if (std::filesystem::is_directory(path)) request.add_upload_directories(path);
    } else {
      for (const std::string& path : paths)
        request.add_paths(std::filesystem::absolute(path).lexically_normal().string());
    }
    auto job = client.Submit(request);
    if (!job.ok()) return Fail(StrCat(coordinator, ": ", job.status().message()));
    auto finished = client.Watch(job->id(), [&](const v1::WatchJobEvent& event) {
      if (progress) bar.Update(event.job().done_tasks(), event.job().total_tasks());
    });
    if (!finished.ok()) return Fail(StrCat(job->id(), ": ", finished.status().message()));
    auto typed = client.TypedReport(job->id());
    if (!typed.ok()) return Fail(StrCat(job->id(), ": ", typed.status().message()));
    if (!typed->has_scan()) return Fail(StrCat(job->id(), " is not a scan job"));
    report = FromProto(typed->scan());
    unscanned = typed->scan().unscanned_files();
    if (unscanned > 0)  // Files never scanned are missing from the report: not a pass.
      std::cerr << "gauntlet: " << job->id() << " was cancelled after " << report.files.size()
                << " of " << finished->total_tasks() << " files\n";
  }
  // On the client: the folders are read here, as `gauntlet verify` would.
  if (r.signature_key) {
    if (auto status = AddSignatureFindings(*r.signature_key, paths, report); !status.ok())
      return Fail(std::string(status.message()));
  }
  std::ostringstream rendered;
  WriteReport(report, format, rendered);
  report_text = rendered.str();

  if (output) {
    std::string temp = *output + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      if (!out) return Fail(StrCat("cannot write ", *output));
      out << report_text;
      if (!out.flush()) return Fail(StrCat("cannot write ", *output));
    }
    if (std::rename(temp.c_str(), output->c_str()) != 0) {
      return Fail(StrCat("cannot write ", *output));
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

// `gauntlet jobs ACTION`'s flags, as parsed.
struct JobsRequest {
  std::string coordinator, tenant, job_id;
};

// Declares `jobs list|get|watch|cancel`, each with the connection flags.
CLI::App* AddJobsCommand(CLI::App& app, JobsRequest& r, ChannelSecurity& security) {
  CLI::App* jobs = app.add_subcommand("jobs", "Jobs on a cluster: list, get, watch, cancel.");
  jobs->require_subcommand(1);
  struct Action {
    const char* name;
    const char* description;
  };
  for (const Action& action :
       {Action{"list", "The latest 50 jobs you may see (an admin: any tenant's)."},
        Action{"get", "One job's state and summary."},
        Action{"watch", "Stream a job's results until it finishes."},
        Action{"cancel", "Cancel a job: its unstarted tasks are never run."}}) {
    CLI::App* command = jobs->add_subcommand(action.name, action.description);
    command
        ->add_option("--coordinator", r.coordinator,
                     "The cluster's gRPC address (required). Env: GAUNTLET_COORDINATOR.")
        ->option_text("HOST:PORT")
        ->envname("GAUNTLET_COORDINATOR")
        ->required()
        ->check(NonEmpty());
    if (std::string_view(action.name) == "list")
      command->add_option("--tenant", r.tenant, "Only this tenant's jobs (admins).");
    else
      command->add_option("JOB", r.job_id, "The job's id.")->required();
    AddChannelFlags(*command, security);
  }
  return jobs;
}

int Jobs(const std::string& action, const JobsRequest& r, const ChannelSecurity& security) {
  const std::string& coordinator = r.coordinator;
  const std::string& job_id = r.job_id;
  if (auto status = security.Validate(); !status.ok()) return Fail(std::string(status.message()));
  ClusterClient client(coordinator, security);
  if (action == "list") {
    auto jobs = client.List(r.tenant, 50);
    if (!jobs.ok()) return Fail(StrCat(coordinator, ": ", jobs.status().message()));
    for (const v1::Job& job : *jobs) PrintJob(job);
    return kExitClean;
  }
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
  if (!job.ok()) return Fail(StrCat(coordinator, ": ", job.status().message()));
  PrintJob(*job);
  return kExitClean;
}

// The lab and generation need libtorch; they live in gauntlet-lab so that
// this binary (and `gauntlet scan`) never loads it.
int HandOverToLab(char** argv) {
  std::string lab = SiblingExecutable("gauntlet-lab", GAUNTLET_LAB_BUILD_PATH);
  argv[0] = lab.data();
  execv(lab.c_str(), argv);
  return Fail(StrCat("cannot run ", lab, ": ", std::strerror(errno)));
}

int Main(int argc, char** argv) {
  std::unique_ptr<CLI::App> owner =
      MakeApp("Gauntlet: decides whether a machine-learning model is safe to use.", "gauntlet");
  CLI::App& app = *owner;
  app.require_subcommand(1);
  auto security = ChannelSecurity::FromEnvironment();
  if (!security.ok()) return Fail(std::string(security.status().message()));

  ScanRequest scan;
  CLI::App* scan_command = AddScanCommand(app, scan, *security);
  JobsRequest jobs;
  CLI::App* jobs_command = AddJobsCommand(app, jobs, *security);
  // `eval ab --coordinator` is a gRPC client and runs here, without
  // libtorch; a local run is gauntlet-lab's, which reads the same flags.
  CLI::App* eval = app.add_subcommand("eval", "Behavioral tests of models.");
  eval->require_subcommand(1);
  eval::EvalAbRequest ab;
  ab.security = *security;
  CLI::App* ab_command = eval::AddEvalAbCommand(*eval, ab);
  // One model's rates need libtorch and no cluster: gauntlet-lab's.
  eval->add_subcommand("rate",
                       "One model's unsafe rate per prompt set of a suite (see 'gauntlet eval rate "
                       "--help').")
      ->prefix_command()
      ->set_help_flag();
  // The lab and generation need libtorch; they live in gauntlet-lab, which
  // reads their flags, so that this binary (and `gauntlet scan`) never
  // loads it.
  // Their --help too: gauntlet-lab prints it.
  app.add_subcommand("lab", "The poisoning lab: dataset, train, run (see 'gauntlet lab --help').")
      ->prefix_command()
      ->set_help_flag();
  app.add_subcommand("generate",
                     "Answer prompts with a model and optional adapter (see 'gauntlet generate "
                     "--help').")
      ->prefix_command()
      ->set_help_flag();
  AuditRequest audit;
  CLI::App* audit_command = AddAuditCommand(app, audit);
  InspectRequest inspect;
  CLI::App* inspect_command = AddInspectCommand(app, inspect);
  SignRequest sign;
  CLI::App* sign_command = AddSignCommand(app, sign);
  VerifyRequest verify;
  CLI::App* verify_command = AddVerifyCommand(app, verify);
  CLI::App* policy = app.add_subcommand("policy", "The built-in policy.");
  policy->require_subcommand(1);
  CLI::App* policy_show =
      policy->add_subcommand("show", "Print the built-in policy (TOML) to extend.");
  CLI::App* rules = app.add_subcommand("rules", "List every rule id with its default severity.");
  CLI::App* version = app.add_subcommand("version", "Print the version.");
  app.footer(kExitCodes);  // After the subcommands, which would inherit it.

  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  if (scan_command->parsed()) return Scan(scan, *security);
  if (jobs_command->parsed())
    return Jobs(jobs_command->get_subcommands().front()->get_name(), jobs, *security);
  if (ab_command->parsed()) {
    if (auto status = eval::CheckEvalAbRequest(ab); !status.ok())
      return UsageError(*ab_command, std::string(status.message()));
    if (ab.coordinator.empty()) return HandOverToLab(argv);
    auto exit_code = eval::RunEvalAbOnCluster(ab);
    if (!exit_code.ok()) return Fail(std::string(exit_code.status().message()));
    return *exit_code;
  }
  // Scoring rows with a base model needs libtorch: gauntlet-lab's.
  if (audit_command->parsed()) return audit.base.empty() ? RunAudit(audit) : HandOverToLab(argv);
  if (inspect_command->parsed())
    return RunInspect(inspect_command->get_subcommands().front()->get_name(), inspect);
  if (sign_command->parsed()) return RunSign(sign);
  if (verify_command->parsed()) return RunVerify(verify);
  if (policy_show->parsed()) {
    std::cout << DefaultPolicyToml();
    return kExitClean;
  }
  if (rules->parsed()) {
    for (const RuleInfo& rule : AllRules()) {
      std::cout << absl::StrFormat("%-32s %-8s %s\n", std::string(rule.id),
                                   std::string(SeverityName(rule.default_severity)),
                                   std::string(rule.short_description));
    }
    return kExitClean;
  }
  if (version->parsed()) {
    std::cout << "gauntlet " << GAUNTLET_VERSION << "\n";
    return kExitClean;
  }
  return HandOverToLab(argv);  // lab or generate.
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Main(argc, argv); }
