#include "worker/cluster/scan_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "common/policy.h"
#include "common/regular_file.h"
#include "common/rules.h"
#include "common/sibling_executable.h"
#include "common/strings.h"
#include "proto/convert.h"
#include "worker/cluster/sandbox_protocol.h"
#include "worker/scan/archive_names.h"
#include "worker/scan/file_scanner.h"

extern char** environ;

namespace gauntlet {
namespace {

ScanOutcome Failed(const std::string& display_path, std::string_view rule, Severity severity,
                   std::string message, std::string killed, bool transient) {
  FileReport report;
  report.path = display_path;
  report.fully_analysed = false;
  report.findings.push_back(Finding{std::string(rule), severity, std::move(message),
                                    Location{display_path, "", 0}, killed});
  report.verdict = DeriveVerdict(report.findings, report.fully_analysed);
  return ScanOutcome{ToProto(report), transient, std::move(killed)};
}

// A path that cannot be opened as a regular file. Not transient: a FIFO or
// a symlink loop stays one (and may be cached); a vanished or unreadable
// file may not.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The sandboxed parser may not look at the filesystem, so the external data
// locations an ONNX model names (onnx.external_data) are checked here for
// symlinks out of the model's folder, as the in-process scan checks them.
void CheckExternalDataLinks(const std::string& local_path, const std::string& policy_toml,
                            v1::FileResult& result) {
  auto policy = Policy::Shared(policy_toml);
  if (!policy) return;
  FileReport report = FromProto(result);
  bool added = false;
  for (const auto& [key, location] : report.metadata) {
    if (key != "onnx.external_data") continue;
    std::optional<std::string> why = scan::SymlinkOutOfFolder(local_path, location);
    if (!why) continue;
    std::optional<Severity> severity =
        policy->EffectiveSeverity(rules::kOnnxExternalDataEscape, Severity::kHigh);
    if (!severity) continue;
    report.findings.push_back(Finding{std::string(rules::kOnnxExternalDataEscape), *severity,
                                      StrCat("external data ", *why), Location{report.path, "", 0},
                                      location});
    added = true;
  }
  if (!added) return;
  report.verdict = DeriveVerdict(report.findings, report.fully_analysed);
  result = ToProto(report);
}

}  // namespace

ScanOutcome UnopenableOutcome(const std::string& display_path, const absl::Status& why) {
  return ScanOutcome{ToProto(scan::Unopenable(display_path, why)), !absl::IsFailedPrecondition(why),
                     ""};
}

ScanOutcome ScanRunner::Scan(const std::string& local_path, const std::string& display_path,
                             const std::string& policy_toml) {
  absl::StatusOr<int> opened = OpenRegularFile(local_path);
  if (!opened.ok()) return UnopenableOutcome(display_path, opened.status());
  Fd file{*opened};
  return ScanOpen(file.fd, local_path, display_path, policy_toml);
}

ScanOutcome InProcessRunner::ScanOpen(int fd, const std::string& local_path,
                                      const std::string& display_path,
                                      const std::string& policy_toml) {
  auto policy = Policy::Shared(policy_toml);
  if (!policy)
    return Failed(display_path, rules::kReadError, Severity::kMedium, "the job's policy is invalid",
                  "", false);
  // The scanners read from the current offset and close what they are given.
  int copy = dup(fd);
  if (copy < 0 || lseek(copy, 0, SEEK_SET) != 0) {
    if (copy >= 0) close(copy);
    return UnopenableOutcome(display_path, absl::UnavailableError(StrCat(
                                               "cannot read the opened file: ", strerror(errno))));
  }
  if (!sandbox_)
    return ScanOutcome{ToProto(scan::ScanOpenFile(copy, display_path, *policy)), false, ""};
  bool needs_sandbox = false;
  FileReport report = scan::ScanOpenFile(copy, display_path, *policy,
                                         {scan::ParserTrust::kHardenedOnly, &needs_sandbox});
  if (needs_sandbox) return sandbox_->ScanOpen(fd, local_path, display_path, policy_toml);
  return ScanOutcome{ToProto(report), false, ""};
}

std::string DefaultSandboxBinary() {
  return SiblingExecutable("gauntlet-scan-sandbox", GAUNTLET_SANDBOX_BUILD_PATH);
}

SandboxRunner::~SandboxRunner() {
  for (Zygote& zygote : idle_) Kill(zygote);
}

absl::Status SandboxRunner::Start(Zygote& zygote) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0)
    return absl::InternalError(StrCat("socketpair: ", strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sockets[1], 0);
  char* argv[] = {const_cast<char*>(options_.binary.c_str()), nullptr};
  pid_t pid = 0;
  int error = posix_spawn(&pid, options_.binary.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(sockets[1]);
  if (error != 0) {
    close(sockets[0]);
    return absl::FailedPreconditionError(
        StrCat("cannot start the sandbox ", options_.binary, ": ", strerror(error)));
  }
  zygote = Zygote{pid, sockets[0]};
  return absl::OkStatus();
}

void SandboxRunner::Kill(Zygote& zygote) {
  if (zygote.socket >= 0) close(zygote.socket);
  if (zygote.pid > 0) {
    kill(zygote.pid, SIGKILL);
    while (waitpid(zygote.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  zygote = Zygote{};
}

absl::StatusOr<std::pair<std::string, std::string>> SandboxRunner::Exchange(
    Zygote& zygote, uint32_t probe, int file, const std::string& display_path,
    const std::string& policy_toml) {
  sandbox::ScanRequest request;
  request.probe = static_cast<sandbox::Probe>(probe);
  request.timeout_ms = static_cast<uint32_t>(WallClockLimit(policy_toml).count());
  struct stat st {};
  fstat(file, &st);
  request.memory_bytes = options_.memory_bytes + static_cast<uint64_t>(st.st_size);
  request.path_bytes = static_cast<uint32_t>(display_path.size());
  request.policy_bytes = static_cast<uint32_t>(policy_toml.size());
  std::string message(reinterpret_cast<const char*>(&request), sizeof request);
  message += display_path;
  message += policy_toml;
  if (!sandbox::SendMessage(zygote.socket, message, file))
    return absl::UnavailableError("the sandbox zygote is gone");
  // The zygote enforces the time limit itself; this backstop catches a
  // zygote that stopped answering.
  pollfd waiting{zygote.socket, POLLIN, 0};
  int backstop = static_cast<int>(request.timeout_ms) + 10000;
  if (poll(&waiting, 1, backstop) <= 0)
    return absl::DeadlineExceededError("the sandbox zygote stopped answering");
  std::string reply_bytes;
  sandbox::ScanReply reply;
  if (!sandbox::ReceiveMessage(zygote.socket, reply_bytes, sizeof reply, nullptr) ||
      reply_bytes.size() != sizeof reply)
    return absl::UnavailableError("the sandbox zygote is gone");
  std::memcpy(&reply, reply_bytes.data(), sizeof reply);
  std::string result, chunk;
  while (result.size() < reply.result_bytes) {
    if (!sandbox::ReceiveMessage(zygote.socket, chunk, sandbox::kChunkBytes, nullptr))
      return absl::UnavailableError("the sandbox zygote is gone");
    result += chunk;
  }
  return std::make_pair(std::move(reply_bytes), std::move(result));
}

ScanOutcome SandboxRunner::ScanOpen(int fd, const std::string& local_path,
                                    const std::string& display_path,
                                    const std::string& policy_toml) {
  ScanOutcome outcome = Run(0, fd, display_path, policy_toml);
  CheckExternalDataLinks(local_path, policy_toml, outcome.result);
  return outcome;
}

std::chrono::milliseconds SandboxRunner::WallClockLimit(const std::string& policy_toml) const {
  // The scan stops itself at the policy's timeout; the kill comes a little
  // later, and never later than the runner's own limit.
  auto policy = Policy::Shared(policy_toml);
  if (!policy) return options_.timeout;
  auto own = std::chrono::milliseconds(
      static_cast<int64_t>(policy->limits().timeout_seconds * 1000) + 5000);
  return std::min(options_.timeout, own);
}

ScanOutcome SandboxRunner::Probe(uint32_t probe, const std::string& local_path) {
  absl::StatusOr<int> opened = OpenRegularFile(local_path);
  if (!opened.ok()) return UnopenableOutcome(local_path, opened.status());
  Fd file{*opened};
  return Run(probe, file.fd, local_path, "");
}

ScanOutcome SandboxRunner::Run(uint32_t probe, int fd, const std::string& display_path,
                               const std::string& policy_toml) {
  // The child reads from the shared offset: start it at the first byte.
  if (lseek(fd, 0, SEEK_SET) != 0)
    return UnopenableOutcome(display_path, absl::UnavailableError(StrCat(
                                               "cannot read the opened file: ", strerror(errno))));
  Zygote zygote;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      zygote = idle_.back();
      idle_.pop_back();
    }
  }
  absl::StatusOr<std::pair<std::string, std::string>> exchanged =
      absl::UnavailableError("not started");
  // A zygote that died since its last file is replaced once.
  for (int tries = 0; tries < 2 && absl::IsUnavailable(exchanged.status()); ++tries) {
    if (zygote.pid < 0 || tries > 0) {
      Kill(zygote);
      if (auto started = Start(zygote); !started.ok())
        return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                      std::string(started.message()), "crash", true);
    }
    exchanged = Exchange(zygote, probe, fd, display_path, policy_toml);
  }
  if (!exchanged.ok()) {
    Kill(zygote);
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                  StrCat("sandbox failure: ", exchanged.status().message()), "crash", true);
  }
  {
    std::lock_guard lock(mu_);
    idle_.push_back(zygote);
  }
  sandbox::ScanReply reply;
  std::memcpy(&reply, exchanged->first.data(), sizeof reply);
  switch (reply.ending) {
    case sandbox::Ending::kTimedOut:
      return Failed(display_path, rules::kSandboxTimeout, Severity::kMedium,
                    StrCat("the parser was killed after ", WallClockLimit(policy_toml).count(),
                           " ms without finishing"),
                    "timeout", true);
    case sandbox::Ending::kSignaled:
      if (reply.code == SIGSYS)
        return Failed(display_path, rules::kSandboxViolation, Severity::kHigh,
                      "the parser attempted a system call outside the sandbox allowlist and was "
                      "killed",
                      "violation", false);
      if (reply.code == SIGXCPU)
        return Failed(display_path, rules::kSandboxTimeout, Severity::kMedium,
                      "the parser used up its CPU-time limit", "timeout", true);
      return Failed(
          display_path, rules::kSandboxCrash, Severity::kMedium,
          StrCat("the parser crashed with signal ", reply.code, " (", strsignal(reply.code), ")"),
          "crash", false);
    case sandbox::Ending::kExited:
      break;
  }
  if (reply.code == sandbox::kOutOfMemoryExit)
    return Failed(
        display_path, rules::kSandboxMemory, Severity::kMedium,
        StrCat("the parser ran out of its ", options_.memory_bytes >> 20, " MiB memory limit"),
        "memory", true);
  v1::FileResult result;
  if (reply.code != 0 || !result.ParseFromString(exchanged->second))
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                  StrCat("the sandbox exited with status ", reply.code, " and no result"), "crash",
                  false);
  return ScanOutcome{std::move(result), false, ""};
}

}  // namespace gauntlet
