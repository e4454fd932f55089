#include "worker/cluster/scan_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include "common/policy.h"
#include "common/rules.h"
#include "common/strings.h"
#include "proto/convert.h"
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

std::shared_ptr<const Policy> CachedPolicy(const std::string& toml) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Policy>> cache;
  std::lock_guard lock(mu);
  auto it = cache.find(toml);
  if (it != cache.end()) return it->second;
  auto policy = toml.empty() ? absl::StatusOr<Policy>(Policy::Default())
                             : Policy::FromToml(toml, "submitted policy");
  auto shared = policy.ok() ? std::make_shared<const Policy>(std::move(*policy)) : nullptr;
  if (cache.size() > 64) cache.clear();
  cache.emplace(toml, shared);
  return shared;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

ScanOutcome InProcessRunner::Scan(const std::string& local_path, const std::string& display_path,
                                  const std::string& policy_toml) {
  auto policy = CachedPolicy(policy_toml);
  if (!policy)
    return Failed(display_path, rules::kReadError, Severity::kMedium, "the job's policy is invalid",
                  "", false);
  FileReport report = scan::ScanFile(local_path, *policy);
  report.path = display_path;
  return ScanOutcome{ToProto(report), false, ""};
}

std::string DefaultSandboxBinary() {
  std::error_code error;
  auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (self.parent_path() / "gauntlet-scan-sandbox").string();
}

ScanOutcome SandboxRunner::Scan(const std::string& local_path, const std::string& display_path,
                                const std::string& policy_toml) {
  Fd file{open(local_path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0)
    return Failed(display_path, rules::kReadError, Severity::kMedium,
                  StrCat("cannot open: ", strerror(errno)), "", true);
  struct stat st {};
  fstat(file.fd, &st);
  int policy_pipe[2], result_pipe[2];
  if (pipe2(policy_pipe, O_CLOEXEC) != 0)
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium, "pipe failed", "crash",
                  true);
  if (pipe2(result_pipe, O_CLOEXEC) != 0) {
    close(policy_pipe[0]);
    close(policy_pipe[1]);
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium, "pipe failed", "crash",
                  true);
  }
  Fd policy_read{policy_pipe[0]}, policy_write{policy_pipe[1]};
  Fd result_read{result_pipe[0]}, result_write{result_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, policy_read.fd, 0);
  posix_spawn_file_actions_adddup2(&actions, result_write.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, file.fd, 3);
  std::string memory = std::to_string(options_.memory_bytes + static_cast<uint64_t>(st.st_size));
  std::string path_arg = display_path;
  char* argv[] = {const_cast<char*>(options_.binary.c_str()), path_arg.data(), memory.data(),
                  nullptr};
  pid_t pid = 0;
  int spawn_error = posix_spawn(&pid, options_.binary.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0)
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                  StrCat("cannot start the sandbox ", options_.binary, ": ", strerror(spawn_error)),
                  "crash", true);
  close(std::exchange(policy_read.fd, -1));
  close(std::exchange(result_write.fd, -1));
  close(std::exchange(file.fd, -1));
  // The policy is small (well under a pipe buffer); a child that dies early
  // just makes this write fail.
  std::string_view policy = policy_toml;
  while (!policy.empty()) {
    ssize_t n = write(policy_write.fd, policy.data(), policy.size());
    if (n <= 0) break;
    policy.remove_prefix(static_cast<size_t>(n));
  }
  close(std::exchange(policy_write.fd, -1));

  std::string output;
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  bool timed_out = false;
  char buffer[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd waiting{result_read.fd, POLLIN, 0};
    int ready = poll(&waiting, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(result_read.fd, buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return Failed(
        display_path, rules::kSandboxTimeout, Severity::kMedium,
        StrCat("the parser was killed after ", options_.timeout.count(), " ms without finishing"),
        "timeout", true);
  if (WIFSIGNALED(status)) {
    int signal_number = WTERMSIG(status);
    if (signal_number == SIGSYS)
      return Failed(display_path, rules::kSandboxViolation, Severity::kHigh,
                    "the parser attempted a system call outside the sandbox allowlist and was "
                    "killed",
                    "violation", false);
    if (signal_number == SIGXCPU)
      return Failed(display_path, rules::kSandboxTimeout, Severity::kMedium,
                    "the parser used up its CPU-time limit", "timeout", true);
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                  StrCat("the parser crashed with signal ", signal_number, " (",
                         strsignal(signal_number), ")"),
                  "crash", false);
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3)
    return Failed(
        display_path, rules::kSandboxMemory, Severity::kMedium,
        StrCat("the parser ran out of its ", options_.memory_bytes >> 20, " MiB memory limit"),
        "memory", true);
  v1::FileResult result;
  if (code != 0 || !result.ParseFromString(output))
    return Failed(display_path, rules::kSandboxCrash, Severity::kMedium,
                  StrCat("the sandbox exited with status ", code, " and no result"), "crash",
                  false);
  return ScanOutcome{std::move(result), false, ""};
}

}  // namespace gauntlet
