#include "worker/scan/decompression_budget.h"

#include <algorithm>

namespace gauntlet::scan {

ProcessDecompressionBudget& ProcessDecompressionBudget::Get() {
  static ProcessDecompressionBudget* budget = new ProcessDecompressionBudget();
  return *budget;
}

uint64_t ProcessDecompressionBudget::Room(uint64_t cap) {
  std::lock_guard lock(mu_);
  return cap - std::min(cap, held_);
}

void ProcessDecompressionBudget::Hold(uint64_t bytes) {
  std::lock_guard lock(mu_);
  held_ += bytes;
  peak_ = std::max(peak_, held_);
}

bool ProcessDecompressionBudget::TryHold(uint64_t bytes, uint64_t cap) {
  std::lock_guard lock(mu_);
  if (held_ + bytes > cap) return false;
  held_ += bytes;
  peak_ = std::max(peak_, held_);
  return true;
}

uint64_t ProcessDecompressionBudget::peak() {
  std::lock_guard lock(mu_);
  return peak_;
}

void ProcessDecompressionBudget::Release(uint64_t bytes) {
  {
    std::lock_guard lock(mu_);
    held_ -= std::min(bytes, held_);
    ++releases_;
  }
  released_.notify_all();
}

bool ProcessDecompressionBudget::WaitForRelease(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  uint64_t seen = releases_;
  return released_.wait_until(lock, deadline, [&] { return releases_ != seen; });
}

}  // namespace gauntlet::scan
