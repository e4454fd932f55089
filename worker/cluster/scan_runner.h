// How a worker turns one local file into a FileResult. InProcessRunner calls
// the scanners directly (the CLI's embedded mode, where speed matters and
// the user already trusts the process); SandboxRunner runs them in a fresh
// child process per file, forked by a gauntlet-scan-sandbox zygote (see
// sandbox_protocol.h), so a crashing, hanging or exploited parser kills only
// that child and the file gets an ERROR verdict saying why.
#ifndef GAUNTLET_WORKER_CLUSTER_SCAN_RUNNER_H_
#define GAUNTLET_WORKER_CLUSTER_SCAN_RUNNER_H_

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

struct ScanOutcome {
  v1::FileResult result;
  // Depends on this run only (timeout, out of memory): reported, never cached.
  bool transient = false;
  // Why the sandbox killed the parser ("timeout", "crash", "memory",
  // "violation"), empty when the scan ran to the end.
  std::string killed;
};

class ScanRunner {
 public:
  virtual ~ScanRunner() = default;
  // Scans an open regular file from its first byte; `fd` stays open, so the
  // caller can hash and scan the very same file. `local_path` is where it
  // was opened (its folder holds an ONNX model's external data).
  // `policy_toml` empty means the built-in policy.
  virtual ScanOutcome ScanOpen(int fd, const std::string& local_path,
                               const std::string& display_path, const std::string& policy_toml) = 0;
  // Opens `local_path` (regular files only, never blocking) and scans it.
  ScanOutcome Scan(const std::string& local_path, const std::string& display_path,
                   const std::string& policy_toml);
};

// A file that could not be opened, as the ERROR outcome the report shows
// (scan.not_regular_file for FIFOs, devices and symlink loops).
ScanOutcome UnopenableOutcome(const std::string& display_path, const absl::Status& why);

class SandboxRunner;

// With a sandbox, files that need a third-party parser of hostile input
// (libhdf5, libarchive: HDF5/Keras .h5, 7z, RAR, also nested in archives) are
// scanned there instead, so a crash or hang in those libraries costs one
// file an ERROR verdict and never the whole run.
class InProcessRunner : public ScanRunner {
 public:
  explicit InProcessRunner(SandboxRunner* sandbox_for_unhardened = nullptr)
      : sandbox_(sandbox_for_unhardened) {}
  ScanOutcome ScanOpen(int fd, const std::string& local_path, const std::string& display_path,
                       const std::string& policy_toml) override;

 private:
  SandboxRunner* sandbox_;
};

struct SandboxOptions {
  std::string binary;  // Path of gauntlet-scan-sandbox.
  std::chrono::milliseconds timeout{120000};
  uint64_t memory_bytes = 2ull << 30;  // Address space on top of the file's own size.
};

// Thread-safe: each concurrent Scan uses its own zygote, started on first
// use and restarted if it dies.
class SandboxRunner : public ScanRunner {
 public:
  explicit SandboxRunner(SandboxOptions options) : options_(std::move(options)) {}
  ~SandboxRunner() override;
  ScanOutcome ScanOpen(int fd, const std::string& local_path, const std::string& display_path,
                       const std::string& policy_toml) override;
  // Runs a self-test probe (sandbox_protocol.h) against `local_path`: the
  // outcome shows how the sandbox contained it.
  ScanOutcome Probe(uint32_t probe, const std::string& local_path);

 private:
  ScanOutcome Run(uint32_t probe, int fd, const std::string& display_path,
                  const std::string& policy_toml);
  struct Zygote {
    pid_t pid = -1;
    int socket = -1;
  };
  absl::Status Start(Zygote& zygote);
  // The policy's timeout plus a grace period, capped by options_.timeout.
  std::chrono::milliseconds WallClockLimit(const std::string& policy_toml) const;
  void Kill(Zygote& zygote);
  // The reply's ending and result bytes; an error when the zygote is gone.
  absl::StatusOr<std::pair<std::string, std::string>> Exchange(Zygote& zygote, uint32_t probe,
                                                               int file,
                                                               const std::string& display_path,
                                                               const std::string& policy_toml);

  SandboxOptions options_;
  std::mutex mu_;
  std::vector<Zygote> idle_;
};

// gauntlet-scan-sandbox beside the running executable.
std::string DefaultSandboxBinary();

}  // namespace gauntlet

#endif  // GAUNTLET_WORKER_CLUSTER_SCAN_RUNNER_H_
