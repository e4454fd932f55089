// The decompressed bytes alive at once in this process, across every scan
// running in it. Each file has its own cap (limits.max_decompressed_bytes);
// this ledger holds all concurrent scans to the same cap together, so
// `gauntlet scan --jobs N` cannot multiply peak memory by N.
//
// A scan that runs out of room only because other scans hold the shared
// budget waits for them rather than reporting a limit its file never
// reached: a verdict must not depend on what ran beside it.
#ifndef GAUNTLET_WORKER_SCAN_DECOMPRESSION_BUDGET_H_
#define GAUNTLET_WORKER_SCAN_DECOMPRESSION_BUDGET_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace gauntlet::scan {

class ProcessDecompressionBudget {
 public:
  static ProcessDecompressionBudget& Get();

  // What the process can still hold under `cap`.
  uint64_t Room(uint64_t cap);
  void Hold(uint64_t bytes);
  // Holds `bytes` if the process stays within `cap`; false (holding
  // nothing) otherwise.
  bool TryHold(uint64_t bytes, uint64_t cap);
  void Release(uint64_t bytes);
  // Blocks until some scan releases bytes; false when `deadline` came first.
  bool WaitForRelease(std::chrono::steady_clock::time_point deadline);
  // The most held at once since the process started (for tests and benches).
  uint64_t peak();

 private:
  std::mutex mu_;
  std::condition_variable released_;
  uint64_t held_ = 0;
  uint64_t peak_ = 0;
  uint64_t releases_ = 0;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_DECOMPRESSION_BUDGET_H_
