// The state of scanning one top-level file: the policy and limits in force,
// the findings so far, whether analysis is complete, and the chain of
// container members being scanned. Scanners recurse into nested content
// through ScanMember, which enforces the nesting limit.
#ifndef GAUNTLET_WORKER_SCAN_SCAN_CONTEXT_H_
#define GAUNTLET_WORKER_SCAN_SCAN_CONTEXT_H_

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/finding.h"
#include "common/policy.h"
#include "worker/scan/decompress.h"
#include "worker/scan/scanner.h"
#include "worker/scan/signatures.h"

namespace gauntlet::scan {

class ScanContext {
 public:
  using Clock = std::chrono::steady_clock;

  ScanContext(const Policy& policy, std::span<const std::unique_ptr<Scanner>> scanners,
              std::string file_path);
  ScanContext(const ScanContext&) = delete;
  ScanContext& operator=(const ScanContext&) = delete;

  // Reports a finding at `offset` within the current member. The policy may
  // change its severity or switch the rule off.
  void Report(std::string_view rule_id, Severity severity, std::string message, uint64_t offset,
              std::string evidence = {});
  // Reports why analysis stopped early; the file can no longer be CLEAN.
  void ReportIncomplete(std::string_view rule_id, std::string message, uint64_t offset);

  // Sniffs `content` and hands it to the scanner for its format.
  void ScanContent(std::string_view content);
  // Scans nested content (an archive member, a decompressed stream, a payload
  // decoded from a pickle) as `name`, one level deeper.
  void ScanMember(std::string_view name, std::string_view content);

  // Decompressed bytes alive at once across all nesting levels are capped by
  // limits().max_decompressed_bytes, so nested bombs cannot multiply the cap;
  // and across every scan in the process by the same number
  // (decompression_budget.h), so concurrent scans cannot either.
  uint64_t FileDecompressionRoom() const {
    return policy_.limits().max_decompressed_bytes -
           std::min(held_decompressed_, policy_.limits().max_decompressed_bytes);
  }
  uint64_t DecompressionRoom() const;
  void HoldDecompressed(uint64_t bytes);
  void ReleaseDecompressed(uint64_t bytes);
  // Runs `decode(room, meter)`, a decompression capped at `room` that
  // reports its growth to `meter`, which holds the bytes in this file's and
  // the process's budget as they are produced. On success the output stays
  // held (ReleaseDecompressed it when done). When it runs out of room only
  // because other scans hold the process budget, waits for them to release
  // (until the deadline) and tries again: the verdict does not depend on
  // what ran beside this file.
  absl::StatusOr<std::string> DecompressWithinBudget(
      const std::function<absl::StatusOr<std::string>(uint64_t room, const GrowthMeter* meter)>&
          decode);
  ~ScanContext();

  // Runs the policy's signature (YARA) rules over `data` (raw member bytes,
  // or strings decoded from a payload, as `what` says) and reports matches,
  // each rule once per member.
  void MatchSignatures(std::string_view data, std::string_view what, uint64_t offset);

  // Findings reported while a MemberScope lives are located in `name`, for
  // scanners that interpret a member themselves (a Keras zip's config.json).
  class MemberScope {
   public:
    MemberScope(ScanContext& ctx, std::string_view name) : ctx_(ctx) {
      ctx_.member_path_.emplace_back(name);
    }
    ~MemberScope() { ctx_.member_path_.pop_back(); }
    MemberScope(const MemberScope&) = delete;
    MemberScope& operator=(const MemberScope&) = delete;

   private:
    ScanContext& ctx_;
  };

  // True once the per-file time budget is spent (reported once).
  bool TimedOut();
  Clock::time_point deadline() const { return deadline_; }

  // libhdf5 and libarchive are third-party parsers not hardened against
  // hostile input. A scanner asks before handing them bytes; in a process
  // that must not run them (the CLI's own), the answer is no and the whole
  // file is marked for the sandbox (the scan's result is then discarded).
  bool MayRunUnhardenedParser() {
    if (!allow_unhardened_parsers_) needs_sandbox_ = true;
    return allow_unhardened_parsers_;
  }
  void ForbidUnhardenedParsers() { allow_unhardened_parsers_ = false; }
  bool needs_sandbox() const { return needs_sandbox_; }

  const Policy& policy() const { return policy_; }
  const ScanLimits& limits() const { return policy_.limits(); }
  int depth() const { return static_cast<int>(member_path_.size()); }
  const std::string& file_path() const { return file_path_; }

  // The format label of the top-level file, e.g. "pytorch-zip"; scanners
  // refine the sniffed name when they recognise a layout.
  void LabelFormat(std::string label);
  const std::string& format_label() const { return format_label_; }

  // Facts about the model a reader should see (safetensors __metadata__,
  // GGUF general.*); keys of nested members are prefixed with their path.
  void AddMetadata(std::string_view key, std::string_view value);
  std::vector<std::pair<std::string, std::string>> TakeMetadata() { return std::move(metadata_); }

  bool fully_analysed() const { return fully_analysed_; }
  std::vector<Finding> TakeFindings() { return std::move(findings_); }

 private:
  std::string MemberPath() const;

  const Policy& policy_;
  std::span<const std::unique_ptr<Scanner>> scanners_;
  std::string file_path_;
  std::vector<std::string> member_path_;
  std::vector<Finding> findings_;
  bool fully_analysed_ = true;
  bool timeout_reported_ = false;
  bool allow_unhardened_parsers_ = true;
  bool needs_sandbox_ = false;
  uint64_t held_decompressed_ = 0;
  std::shared_ptr<const SignatureSet> signatures_;
  bool signatures_failed_ = false;
  std::set<std::string> reported_signatures_;
  std::string format_label_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  Clock::time_point deadline_;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SCAN_CONTEXT_H_
