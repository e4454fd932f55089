// gauntlet-scan-sandbox: the zygote that parses untrusted files for a
// worker slot (protocol in sandbox_protocol.h). Spawned with fd 0 as its
// SOCK_SEQPACKET end; it loads every library up front, stays
// single-threaded, and forks one fresh child per file. The child, before it
// reads a byte of the file: dies with the zygote (PR_SET_PDEATHSIG), sets
// rlimits (address space, CPU, no file writes, no core dumps, no new
// processes), PR_SET_NO_NEW_PRIVS, and a seccomp allowlist: open fails with
// EACCES, and socket, exec, clone or anything else unlisted kills it. A parser exploit finds
// nothing to do; a crash or a hang costs one child.
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <string>

#include "common/policy.h"
#include "proto/convert.h"
#include "worker/cluster/sandbox_protocol.h"
#include "worker/scan/file_scanner.h"
#include "worker/scan/hdf5_library.h"
#include "worker/scan/signatures.h"

namespace gauntlet::sandbox {
namespace {

constexpr int kSocket = 0;
constexpr size_t kMaxRequestBytes = 4 << 20;

void Limit(int resource, rlim_t value) {
  rlimit limit{value, value};
  setrlimit(resource, &limit);
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer reserves terabytes of shadow memory: an address-space
// limit would stop the sanitizer build's child before it starts.
constexpr bool kLimitAddressSpace = false;
#else
constexpr bool kLimitAddressSpace = true;
#endif

bool LockDown(rlim_t address_space, rlim_t cpu_seconds, int result_pipe) {
  if (kLimitAddressSpace) Limit(RLIMIT_AS, address_space);
  Limit(RLIMIT_CPU, cpu_seconds);
  Limit(RLIMIT_FSIZE, 0);
  Limit(RLIMIT_CORE, 0);
  Limit(RLIMIT_NPROC, 0);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!filter) return false;
  for (int call : {SCMP_SYS(read),           SCMP_SYS(pread64),
                   SCMP_SYS(readv),          SCMP_SYS(lseek),
                   SCMP_SYS(fstat),          SCMP_SYS(close),
                   SCMP_SYS(munmap),         SCMP_SYS(mremap),
                   SCMP_SYS(madvise),        SCMP_SYS(brk),
                   SCMP_SYS(futex),          SCMP_SYS(getrandom),
                   SCMP_SYS(clock_gettime),  SCMP_SYS(gettimeofday),
                   SCMP_SYS(getpid),         SCMP_SYS(gettid),
                   SCMP_SYS(sched_yield),    SCMP_SYS(rt_sigreturn),
                   SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
                   SCMP_SYS(tgkill),         SCMP_SYS(exit),
                   SCMP_SYS(exit_group)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 0) != 0) {
      seccomp_release(filter);
      return false;
    }
  }
  auto fail = [&] {
    seccomp_release(filter);
    return false;
  };
  // Writes go to the result pipe only: a compromised parser cannot print a
  // forged report ahead of the real one on an inherited stdout or stderr
  // (those are closed, too). The sanitizer build's runtime also writes to
  // the pipe it probes memory with.
  for (int call : {SCMP_SYS(write), SCMP_SYS(writev)}) {
    if (!kLimitAddressSpace) {
      if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 0) != 0) return fail();
      continue;
    }
    if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 1,
                         SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(result_pipe))) != 0 ||
        seccomp_rule_add(filter, SCMP_ACT_ERRNO(EBADF), call, 1,
                         SCMP_A0(SCMP_CMP_NE, static_cast<scmp_datum_t>(result_pipe))) != 0) {
      return fail();
    }
  }
  // Memory, never executable memory: no new code can be mapped in.
  for (int call : {SCMP_SYS(mmap), SCMP_SYS(mprotect)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) != 0) {
      return fail();
    }
  }
  // fstat() is newfstatat(fd, "", AT_EMPTY_PATH); looking at any path by
  // name (stat, lstat, readlink, getcwd) fails.
  if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                       SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)) != 0 ||
      seccomp_rule_add(filter, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(newfstatat), 1,
                       SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0)) != 0) {
    return fail();
  }
  for (int call : {SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getcwd)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EACCES), call, 0) != 0) return fail();
  }
  if (!kLimitAddressSpace) {
    // The sanitizer runtime probes memory through a pipe and runs its
    // signal handlers on an alternate stack.
    for (int call : {SCMP_SYS(pipe2), SCMP_SYS(sigaltstack)}) {
      if (seccomp_rule_add(filter, SCMP_ACT_ALLOW, call, 0) != 0) {
        seccomp_release(filter);
        return false;
      }
    }
  }
  // Opening a file fails instead of killing: libhdf5 probes for a file named
  // after its in-memory image and carries on when it is not there. Nothing
  // can be read or written by name either way.
  for (int call : {SCMP_SYS(open), SCMP_SYS(openat)}) {
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EACCES), call, 0) != 0) {
      seccomp_release(filter);
      return false;
    }
  }
  bool loaded = seccomp_load(filter) == 0;
  seccomp_release(filter);
  return loaded;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Parsed once in the zygote, so each child inherits the policy and its
// compiled signatures instead of rebuilding them.
std::shared_ptr<const Policy> PolicyFor(const std::string& toml) {
  std::shared_ptr<const Policy> policy = Policy::Shared(toml);
  if (policy && !scan::SignatureSet::ForPolicy(policy->signatures()).ok()) return nullptr;
  return policy;
}

[[noreturn]] void Misbehave(Probe probe) {
  switch (probe) {
    case Probe::kForbiddenSyscall:
      socket(AF_INET, SOCK_STREAM, 0);
      break;
    case Probe::kCrash:
      raise(SIGSEGV);
      break;
    case Probe::kHang:
      while (true) asm volatile("" ::: "memory");
    case Probe::kMemory: {
      // Through a volatile pointer, so the allocation cannot be elided.
      void* (*volatile allocate)(size_t) = ::operator new;
      static_cast<char*>(allocate(size_t{64} << 30))[0] = 1;
      break;
    }
    // The next three end in a forbidden call when contained, so the runner
    // reports "violation"; an escape exits with status 2 instead.
    case Probe::kWriteInheritedOutput: {
      constexpr std::string_view kForged = "{\"files\": []}\n";
      bool escaped = write(1, kForged.data(), kForged.size()) > 0 ||
                     write(2, kForged.data(), kForged.size()) > 0;
      if (!escaped) socket(AF_INET, SOCK_STREAM, 0);
      break;
    }
    case Probe::kStatPath: {
      struct stat st {};
      char link[256];
      bool escaped =
          stat("/etc/passwd", &st) == 0 || readlink("/proc/self/exe", link, sizeof link) > 0;
      if (!escaped) socket(AF_INET, SOCK_STREAM, 0);
      break;
    }
    case Probe::kExecutableMapping:
      mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      break;
    case Probe::kNone:
      break;
  }
  _exit(2);
}

[[noreturn]] void RunChild(int file, int result_pipe, const std::string& display_path,
                           const Policy& policy, const ScanRequest& request, pid_t zygote) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != zygote) _exit(2);
  auto cpu_seconds = static_cast<rlim_t>(policy.limits().timeout_seconds * 2 + 5);
  // The child keeps two descriptors: the file and the result pipe.
  int low = std::min(file, result_pipe), high = std::max(file, result_pipe);
  if (low > 0) close_range(0, static_cast<unsigned>(low) - 1, 0);
  if (high > low + 1)
    close_range(static_cast<unsigned>(low) + 1, static_cast<unsigned>(high) - 1, 0);
  close_range(static_cast<unsigned>(high) + 1, ~0u, 0);
  if (!LockDown(static_cast<rlim_t>(request.memory_bytes), cpu_seconds, result_pipe)) _exit(2);
  try {
    if (request.probe != Probe::kNone) Misbehave(request.probe);
    FileReport report = scan::ScanOpenFile(file, display_path, policy);
    _exit(WriteAll(result_pipe, ToProto(report).SerializeAsString()) ? 0 : 2);
  } catch (const std::bad_alloc&) {
    _exit(kOutOfMemoryExit);
  }
}

void Reply(const ScanReply& reply, const std::string& result) {
  SendMessage(kSocket, std::string_view(reinterpret_cast<const char*>(&reply), sizeof reply), -1);
  for (size_t offset = 0; offset < result.size(); offset += kChunkBytes)
    SendMessage(kSocket, std::string_view(result).substr(offset, kChunkBytes), -1);
}

// One file: fork, wait with a deadline, reap, answer.
void Serve(const ScanRequest& request, int file, const std::string& display_path,
           const std::string& policy_toml) {
  auto policy = PolicyFor(policy_toml);
  if (!policy) {
    close(file);
    Reply(ScanReply{Ending::kExited, 2, 0}, "");
    return;
  }
  int result_pipe[2];
  if (pipe2(result_pipe, O_CLOEXEC) != 0) {
    close(file);
    Reply(ScanReply{Ending::kExited, 2, 0}, "");
    return;
  }
  pid_t zygote = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(kSocket);
    close(result_pipe[0]);
    RunChild(file, result_pipe[1], display_path, *policy, request, zygote);
  }
  close(file);
  close(result_pipe[1]);
  std::string result;
  bool timed_out = false;
  if (pid > 0) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(request.timeout_ms);
    char buffer[65536];
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        kill(pid, SIGKILL);
        break;
      }
      pollfd waiting{result_pipe[0], POLLIN, 0};
      int ready = poll(&waiting, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      ssize_t n = read(result_pipe[0], buffer, sizeof buffer);
      if (n <= 0) break;
      result.append(buffer, static_cast<size_t>(n));
    }
  }
  close(result_pipe[0]);
  int status = 0;
  while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ScanReply reply;
  if (pid < 0) {
    reply = {Ending::kExited, 2, 0};
  } else if (timed_out) {
    reply = {Ending::kTimedOut, 0, 0};
  } else if (WIFSIGNALED(status)) {
    reply = {Ending::kSignaled, WTERMSIG(status), 0};
  } else {
    reply = {Ending::kExited, WEXITSTATUS(status), 0};
  }
  if (reply.ending == Ending::kExited && reply.code == 0) {
    reply.result_bytes = result.size();
  } else {
    result.clear();
  }
  Reply(reply, result);
}

int Run(int argc, char**) {
  if (argc != 1 || isatty(kSocket)) {
    std::cerr << "gauntlet-scan-sandbox is started by gauntlet-worker, not by hand.\n";
    return 2;
  }
  // Everything that loads code happens now, before any child exists.
  scan::Hdf5Library::Get().IgnoreError();
  PolicyFor("");
  std::string message;
  while (true) {
    int file = -1;
    if (!ReceiveMessage(kSocket, message, kMaxRequestBytes, &file)) return 0;  // Worker left.
    ScanRequest request;
    if (message.size() < sizeof request || file < 0) {
      if (file >= 0) close(file);
      return 2;
    }
    std::memcpy(&request, message.data(), sizeof request);
    if (request.magic != kRequestMagic ||
        message.size() != sizeof request + request.path_bytes + request.policy_bytes) {
      close(file);
      return 2;
    }
    std::string display_path = message.substr(sizeof request, request.path_bytes);
    std::string policy_toml =
        message.substr(sizeof request + request.path_bytes, request.policy_bytes);
    Serve(request, file, display_path, policy_toml);
  }
}

}  // namespace
}  // namespace gauntlet::sandbox

int main(int argc, char** argv) { return gauntlet::sandbox::Run(argc, argv); }
