#include "worker/scan/scan_context.h"

#include <algorithm>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/decompression_budget.h"

namespace gauntlet::scan {
namespace {

// Formats whose name promise we can check; "text" accepts empty files too.
bool NameContradictsContent(Format promised, Format sniffed) {
  if (promised == Format::kUnknown || sniffed == Format::kEmpty) return false;
  return promised != sniffed;
}

// An end-of-central-directory record in the last 64 KiB.
bool HasZipEndRecord(std::string_view content) {
  if (content.size() < 22) return false;
  size_t window = std::min<size_t>(content.size(), 65535 + 22);
  return content.substr(content.size() - window).rfind(std::string_view("PK\x05\x06", 4)) !=
         std::string_view::npos;
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

ScanContext::ScanContext(const Policy& policy, std::span<const std::unique_ptr<Scanner>> scanners,
                         std::string file_path)
    : policy_(policy),
      scanners_(scanners),
      file_path_(std::move(file_path)),
      deadline_(Clock::now() +
                std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(policy.limits().timeout_seconds))) {}

ScanContext::~ScanContext() {
  // A scan that stopped early still gives back what it held.
  if (held_decompressed_) ProcessDecompressionBudget::Get().Release(held_decompressed_);
}

uint64_t ScanContext::DecompressionRoom() const {
  return std::min(FileDecompressionRoom(),
                  ProcessDecompressionBudget::Get().Room(policy_.limits().max_decompressed_bytes));
}

void ScanContext::HoldDecompressed(uint64_t bytes) {
  held_decompressed_ += bytes;
  ProcessDecompressionBudget::Get().Hold(bytes);
}

void ScanContext::ReleaseDecompressed(uint64_t bytes) {
  bytes = std::min(bytes, held_decompressed_);
  held_decompressed_ -= bytes;
  ProcessDecompressionBudget::Get().Release(bytes);
}

absl::StatusOr<std::string> ScanContext::DecompressWithinBudget(
    const std::function<absl::StatusOr<std::string>(uint64_t, const GrowthMeter*)>& decode) {
  ProcessDecompressionBudget& process = ProcessDecompressionBudget::Get();
  const uint64_t cap = policy_.limits().max_decompressed_bytes;
  while (true) {
    uint64_t held_here = 0;
    bool refused = false;
    GrowthMeter meter = [&](uint64_t added) {
      if (!process.TryHold(added, cap)) {
        refused = true;
        return false;
      }
      held_decompressed_ += added;
      held_here += added;
      return true;
    };
    absl::StatusOr<std::string> out = decode(FileDecompressionRoom(), &meter);
    if (out.ok()) return out;
    ReleaseDecompressed(held_here);
    // The file's own cap, or corrupt data: that is this file's verdict.
    if (!refused || !absl::IsResourceExhausted(out.status())) return out;
    if (!process.WaitForRelease(deadline_)) {
      return absl::DeadlineExceededError(
          "ran out of time waiting for other scans to release decompressed data");
    }
  }
}

void ScanContext::MatchSignatures(std::string_view data, std::string_view what, uint64_t offset) {
  if (!signatures_ && !signatures_failed_) {
    // Compiled (once per process) on first use, so text-only runs skip it.
    auto signatures = SignatureSet::ForPolicy(policy_.signatures());
    if (!signatures.ok()) {
      signatures_failed_ = true;
      ReportIncomplete(rules::kReadError,
                       StrCat("signature rules unavailable: ", signatures.status().message()), 0);
      return;
    }
    signatures_ = *signatures;
  }
  if (!signatures_) return;
  for (const SignatureMatch& match : signatures_->Match(data)) {
    if (!reported_signatures_.insert(StrCat(MemberPath(), "|", match.rule)).second) continue;
    Report(rules::kSignatureMatch, match.severity,
           StrCat("YARA rule ", match.rule, " matched ", what,
                  match.description.empty() ? "" : StrCat(": ", match.description)),
           offset, match.rule);
  }
}

std::string ScanContext::MemberPath() const { return StrJoin(member_path_, "!/"); }

void ScanContext::Report(std::string_view rule_id, Severity severity, std::string message,
                         uint64_t offset, std::string evidence) {
  std::optional<Severity> effective = policy_.EffectiveSeverity(rule_id, severity);
  if (!effective) return;
  // Evidence comes from hostile bytes; keep reports bounded.
  if (evidence.size() > 512) evidence = StrCat(evidence.substr(0, 509), "...");
  findings_.push_back(Finding{std::string(rule_id), *effective, std::move(message),
                              Location{file_path_, MemberPath(), offset}, std::move(evidence)});
}

void ScanContext::ReportIncomplete(std::string_view rule_id, std::string message, uint64_t offset) {
  fully_analysed_ = false;
  const RuleInfo* rule = FindRule(rule_id);
  Report(rule_id, rule ? rule->default_severity : Severity::kMedium, std::move(message), offset);
}

bool ScanContext::TimedOut() {
  if (Clock::now() < deadline_) return false;
  if (!timeout_reported_) {
    timeout_reported_ = true;
    ReportIncomplete(
        rules::kTimeout,
        StrCat("analysis stopped after the ", policy_.limits().timeout_seconds, " s time budget"),
        0);
  }
  return true;
}

void ScanContext::AddMetadata(std::string_view key, std::string_view value) {
  constexpr size_t kMaxEntries = 256, kMaxValue = 4096;  // Hostile files pick the sizes.
  if (metadata_.size() >= kMaxEntries) return;
  std::string full = member_path_.empty() ? std::string(key) : StrCat(MemberPath(), "!/", key);
  metadata_.emplace_back(std::move(full), std::string(value.substr(0, kMaxValue)));
}

void ScanContext::LabelFormat(std::string label) {
  if (member_path_.empty()) format_label_ = std::move(label);
}

void ScanContext::ScanContent(std::string_view content) {
  Format format = SniffFormat(content.substr(0, 4096));
  if ((format == Format::kText || format == Format::kUnknown || format == Format::kImage) &&
      HasZipEndRecord(content)) {
    // Bytes before a zip (a polyglot): zipfile-based loaders still open it.
    format = Format::kZip;
  }
  if (member_path_.empty() && format_label_.empty()) format_label_ = FormatName(format);
  std::string_view name =
      member_path_.empty() ? BaseName(file_path_) : BaseName(member_path_.back());
  Format promised = FormatPromisedByName(name);
  if (NameContradictsContent(promised, format)) {
    Report(rules::kExtensionMismatch, Severity::kMedium,
           StrCat("named like ", FormatName(promised), " but the content is ", FormatName(format)),
           0, std::string(name));
  }
  if (format == Format::kEmpty) return;
  if (TimedOut()) return;
  // Raw bytes are matched only where nothing better exists: content no
  // scanner understands. Known formats are matched on what they decode to
  // (pickle strings, templates, members), never on tensor bytes, which
  // would be a full read and, at registry scale, random matches. Text is
  // judged by what it does when loaded, not by what it mentions: a model
  // card may well say "curl ... | sh".
  if (format == Format::kUnknown && content.size() <= policy_.signatures().max_scan_bytes) {
    MatchSignatures(content, "in the raw bytes", 0);
  }
  for (const auto& scanner : scanners_) {
    if (scanner->Accepts(format)) {
      scanner->Scan(content, *this);
      return;
    }
  }
  ReportIncomplete(rules::kUnsupportedFormat,
                   StrCat("content is ", FormatName(format),
                          ", which this build of Gauntlet cannot analyse yet"),
                   0);
}

void ScanContext::ScanMember(std::string_view name, std::string_view content) {
  if (depth() >= static_cast<int>(policy_.limits().max_nesting_depth)) {
    ReportIncomplete(rules::kLimitExceeded,
                     StrCat("member '", name, "' is nested deeper than max_nesting_depth=",
                            policy_.limits().max_nesting_depth),
                     0);
    return;
  }
  MemberScope scope(*this, name);
  ScanContent(content);
}

}  // namespace gauntlet::scan
