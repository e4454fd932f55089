// The wire between a worker and its gauntlet-scan-sandbox zygote, over a
// SOCK_SEQPACKET socketpair (message boundaries kept, file descriptors
// passed with SCM_RIGHTS).
//
// The zygote is spawned once per worker slot with posix_spawn, loads every
// library, then waits single-threaded. For each file the worker sends one
// ScanRequest message carrying the open file; the zygote forks a fresh child
// that locks itself down (rlimits, no new privileges, seccomp) before it
// reads a byte, scans, and writes its result to a pipe. The zygote enforces
// the wall-clock limit, reaps the child, and answers with one ScanReply
// message followed by the result bytes in chunks.
#ifndef GAUNTLET_WORKER_CLUSTER_SANDBOX_PROTOCOL_H_
#define GAUNTLET_WORKER_CLUSTER_SANDBOX_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace gauntlet::sandbox {

inline constexpr uint32_t kRequestMagic = 0x47534e44;  // "GSND"
inline constexpr size_t kChunkBytes = 32 * 1024;
// The child exits with this code when an allocation fails.
inline constexpr int kOutOfMemoryExit = 3;

// Self-test probes: after locking down, the child misbehaves on purpose
// instead of scanning, so an operator (`gauntlet-worker --selftest`) and
// the tests can see each failure contained.
enum class Probe : uint32_t {
  kNone = 0,
  kForbiddenSyscall = 1,      // Opens a socket: seccomp must kill it.
  kCrash = 2,                 // SIGSEGV.
  kHang = 3,                  // Spins until the wall-clock limit.
  kMemory = 4,                // Allocates past the address-space limit.
  kWriteInheritedOutput = 5,  // Prints a forged report on stdout/stderr.
  kStatPath = 6,              // stat()s and readlink()s paths by name.
  kExecutableMapping = 7,     // Maps executable memory.
};

struct ScanRequest {
  uint32_t magic = kRequestMagic;
  Probe probe = Probe::kNone;
  uint32_t timeout_ms = 0;
  uint64_t memory_bytes = 0;  // Address-space limit for the child.
  uint32_t path_bytes = 0;    // Followed by the display path, then the policy TOML.
  uint32_t policy_bytes = 0;
};

enum class Ending : uint32_t {
  kExited = 0,    // `code` is the exit status; 0 means the result follows.
  kSignaled = 1,  // `code` is the signal.
  kTimedOut = 2,
};

struct ScanReply {
  Ending ending = Ending::kExited;
  int32_t code = 0;
  uint64_t result_bytes = 0;  // Sent next, in messages of at most kChunkBytes.
};

// One SEQPACKET message, optionally passing `fd_to_pass` (-1 for none).
bool SendMessage(int socket, std::string_view bytes, int fd_to_pass);
// Receives one message of at most `max_bytes`; `received_fd` gets a passed
// descriptor or -1. False on EOF or error.
bool ReceiveMessage(int socket, std::string& bytes, size_t max_bytes, int* received_fd);

}  // namespace gauntlet::sandbox

#endif  // GAUNTLET_WORKER_CLUSTER_SANDBOX_PROTOCOL_H_
