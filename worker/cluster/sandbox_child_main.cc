// gauntlet-scan-sandbox: scans one file inside a locked-down process. The
// worker spawns it fresh for every file (posix_spawn, never a bare fork of
// the gRPC process):
//   fd 0  the policy TOML (read to EOF before anything else)
//   fd 1  where the serialized gauntlet.v1.FileResult goes
//   fd 3  the file, opened read-only by the parent
//   argv  display path, address-space limit in bytes
// Before it reads a byte of the file it sets rlimits (address space, CPU, no
// file writes, no core dumps), PR_SET_NO_NEW_PRIVS and a seccomp allowlist
// with no open, socket, exec or clone: a parser exploit finds nothing to do.
// Exit codes: 0 result written, 2 bad invocation, 3 out of memory.
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <iostream>
#include <new>
#include <string>

#include "common/policy.h"
#include "common/strings.h"
#include "proto/convert.h"
#include "worker/scan/file_scanner.h"
#include "worker/scan/hdf5_library.h"
#include "worker/scan/signatures.h"

namespace gauntlet {
namespace {

constexpr int kFileFd = 3;

bool ReadAll(int fd, std::string& out) {
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  return n == 0;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void Limit(int resource, rlim_t value) {
  rlimit limit{value, value};
  setrlimit(resource, &limit);
}

bool LockDown(rlim_t address_space, rlim_t cpu_seconds) {
  Limit(RLIMIT_AS, address_space);
  Limit(RLIMIT_CPU, cpu_seconds);
  Limit(RLIMIT_FSIZE, 0);
  Limit(RLIMIT_CORE, 0);
  Limit(RLIMIT_NOFILE, 8);
  Limit(RLIMIT_NPROC, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!filter) return false;
  for (int call : {SCMP_SYS(read),         SCMP_SYS(pread64),      SCMP_SYS(readv),
                   SCMP_SYS(write),        SCMP_SYS(writev),       SCMP_SYS(lseek),
                   SCMP_SYS(fstat),        SCMP_SYS(newfstatat),   SCMP_SYS(close),
                   SCMP_SYS(mmap),         SCMP_SYS(munmap),       SCMP_SYS(mremap),
                   SCMP_SYS(mprotect),     SCMP_SYS(madvise),      SCMP_SYS(brk),
                   SCMP_SYS(futex),        SCMP_SYS(getrandom),    SCMP_SYS(clock_gettime),
                   SCMP_SYS(gettimeofday), SCMP_SYS(getpid),       SCMP_SYS(gettid),
                   SCMP_SYS(sched_yield),  SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
                   SCMP_SYS(rt_sigaction), SCMP_SYS(tgkill),       SCMP_SYS(exit),
                   SCMP_SYS(exit_group)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 0) != 0) {
      seccomp_release(filter);
      return false;
    }
  }
  bool loaded = seccomp_load(filter) == 0;
  seccomp_release(filter);
  return loaded;
}

int Run(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: gauntlet-scan-sandbox DISPLAY_PATH ADDRESS_SPACE_BYTES (spawned by "
                 "gauntlet-worker)\n";
    return 2;
  }
  std::string display_path = argv[1];
  auto address_space = ParseInt<int64_t>(argv[2]);
  std::string policy_text;
  if (!address_space || *address_space <= 0 || !ReadAll(0, policy_text)) return 2;
  auto policy = policy_text.empty() ? absl::StatusOr<Policy>(Policy::Default())
                                    : Policy::FromToml(policy_text, "submitted policy");
  if (!policy.ok()) {
    std::cerr << "gauntlet-scan-sandbox: " << policy.status().message() << "\n";
    return 2;
  }
  // Everything that loads code or reads files happens before the lockdown:
  // libhdf5 is dlopen'ed on demand and YARA rule files are read from disk.
  scan::Hdf5Library::Get().IgnoreError();
  if (auto signatures = scan::SignatureSet::ForPolicy(policy->signatures()); !signatures.ok()) {
    std::cerr << "gauntlet-scan-sandbox: " << signatures.status().message() << "\n";
    return 2;
  }
  auto cpu_seconds = static_cast<rlim_t>(policy->limits().timeout_seconds * 2 + 5);
  if (!LockDown(static_cast<rlim_t>(*address_space), cpu_seconds)) {
    std::cerr << "gauntlet-scan-sandbox: cannot install the sandbox\n";
    return 2;
  }
  try {
    FileReport report = scan::ScanOpenFile(kFileFd, display_path, *policy);
    return WriteAll(1, ToProto(report).SerializeAsString()) ? 0 : 2;
  } catch (const std::bad_alloc&) {
    return 3;
  }
}

}  // namespace
}  // namespace gauntlet

int main(int argc, char** argv) { return gauntlet::Run(argc, argv); }
