#include "worker/scan/pickle_scanner.h"

#include <span>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/pickle_machine.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/tensor_bytes.h"

namespace gauntlet::scan {
namespace {

// torch's legacy format starts with a pickle of this integer
// (0x1950a86a20f9469cfc6c), written by LONG1 as 10 little-endian bytes.
constexpr std::string_view kTorchLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
// After the magic: protocol version, sys info, the object, storage keys.
constexpr int kTorchLegacyPickles = 5;

bool IsDunder(std::string_view part) {
  return part.size() > 4 && part.substr(0, 2) == "__" && part.substr(part.size() - 2) == "__";
}

// Classifies one import. Dotted names (protocol 4 qualnames) are resolved by
// getattr at load time, so ("pathlib", "os.system") reaches os.system: every
// suffix of the attribute path is checked against the denylist too.
void ReportImport(const PickleImport& imp, ScanContext& ctx) {
  if (imp.opcode == "EXT" || imp.module == "<computed>") return;  // Reported as events.
  // Every use was an argument-aware allowance (an Enum member through
  // getattr, a functools.partial): the import it reached is judged instead.
  if (imp.sanctioned_calls > 0 && imp.sanctioned_calls == imp.appearances) return;
  const Policy& policy = ctx.policy();
  const std::string& qualified = imp.qualified;
  ImportDecision decision = policy.ClassifyImport(qualified);
  std::vector<std::string_view> parts = StrSplit(imp.name, ".");
  if (parts.size() > 1) {
    for (std::string_view part : parts) {
      if (IsDunder(part)) {
        ctx.Report(rules::kDunderTraversal, Severity::kCritical,
                   StrCat("import walks dunder attribute ", part), imp.offset, qualified);
        break;
      }
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string suffix = StrJoin(std::span(parts).subspan(i), ".");
      // "os.system" as an attribute path means module os, name system.
      ImportDecision inner = policy.ClassifyImport(suffix);
      if (inner.kind == ImportClass::kDenied &&
          (decision.kind != ImportClass::kDenied || inner.severity > decision.severity)) {
        decision = inner;
      }
    }
    // A dotted name is allowed only by a pattern that names it exactly: a
    // glob such as "mylib.*" must not allow "mylib.os.system".
    if (decision.kind == ImportClass::kAllowed && decision.pattern != qualified) decision = {};
  }
  std::string use = imp.called ? "called" : "referenced";
  std::string times = imp.count > 1 ? StrCat(", ", imp.count, " times") : "";
  std::string evidence = imp.evidence.empty() ? qualified : imp.evidence;
  switch (decision.kind) {
    case ImportClass::kAllowed:
      return;
    case ImportClass::kDenied:
      ctx.Report(rules::kDangerousGlobal, decision.severity,
                 StrCat(imp.opcode, " imports ", qualified, " (", use, times,
                        "), denied by policy pattern '", decision.pattern, "'"),
                 imp.offset, evidence);
      return;
    case ImportClass::kUnknown:
      ctx.Report(
          rules::kUnknownGlobal,
          imp.called ? policy.unknown_called_severity() : policy.unknown_referenced_severity(),
          StrCat(imp.opcode, " imports ", qualified, " (", use, times,
                 "), which is not on the allowlist"),
          imp.offset, evidence);
      return;
  }
}

// Turns one analysed pickle into findings. The machine interns imports, so a
// file that references a class ten thousand times yields one finding.
void ReportResult(const PickleResult& result, ScanContext& ctx) {
  for (const PickleImport& imp : result.imports) ReportImport(imp, ctx);
  for (const PickleEvent& event : result.events) {
    ctx.Report(event.rule_id, event.severity, event.message, event.offset, event.evidence);
  }
  if (!result.strings.empty()) {
    ctx.MatchSignatures(result.strings, "in strings decoded from the pickle", result.start);
  }
  for (const EmbeddedBlob& blob : result.blobs) {
    if (blob.strong_only && !HoldsStrongPayload(blob.data, ctx.limits(), ctx.deadline())) continue;
    ctx.Report(rules::kEmbeddedPayload, Severity::kInfo,
               StrCat("embedded payload from ", blob.how, " scanned as a nested member"),
               blob.offset);
    ctx.ScanMember(StrCat("<embedded@", blob.offset, ">"), blob.data);
  }
  if (result.stop) {
    ctx.ReportIncomplete(result.stop->rule_id,
                         StrCat("pickle analysis stopped: ", result.stop->message),
                         result.stop->offset);
  }
}

// Scans every pickle in `content` from offset 0, in sequence, the way
// pickle.load is called repeatedly on one file handle.
void ScanStream(std::string_view content, ScanContext& ctx) {
  const auto deadline = ctx.deadline();
  uint64_t pos = 0;
  int index = 0;
  bool legacy_torch = false;
  while (pos < content.size()) {
    PickleResult result = AnalyzePickle(content, pos, ctx.limits(), deadline);
    if (index > 0 && result.first_opcode_invalid) {
      ctx.Report(rules::kTrailingData, Severity::kLow,
                 StrCat(content.size() - pos, " bytes after the last pickle are not a pickle"),
                 pos);
      return;
    }
    ReportResult(result, ctx);
    if (result.stop) return;
    if (index == 0 && result.int_result == kTorchLegacyMagic) {
      legacy_torch = true;
      ctx.LabelFormat("pytorch-legacy");
      ctx.Report(rules::kTorchLegacy, Severity::kInfo, "legacy torch.save format", 0);
    }
    if (index == 0 && result.is_joblib) ctx.LabelFormat("joblib");
    pos = result.end;
    ++index;
    // What follows the legacy pickles is raw tensor storage: never read it.
    if (legacy_torch && index == kTorchLegacyPickles) return;
  }
}

}  // namespace

bool WouldUnpickle(std::string_view content, const ScanContext& ctx) {
  PickleResult probe = AnalyzePickle(content, 0, ctx.limits(), ctx.deadline());
  if (!probe.stop && probe.opcodes > 1) return true;
  for (const PickleImport& imp : probe.imports) {
    if (imp.called || ctx.policy().ClassifyImport(imp.qualified).kind == ImportClass::kDenied) {
      return true;
    }
  }
  for (const PickleEvent& event : probe.events) {
    if (event.severity >= Severity::kHigh) return true;
  }
  return false;
}

void ScanUnpicklable(std::string_view content, ScanContext& ctx) {
  ctx.LabelFormat("pickle");
  ScanStream(content, ctx);
}

void PickleScanner::Scan(std::string_view content, ScanContext& ctx) const {
  // PROTO first: a binary pickle, however damaged (no text starts with 0x80).
  if (LooksLikeBinaryPickle(content) || static_cast<unsigned char>(content[0]) == 0x80) {
    ScanStream(content, ctx);
    return;
  }
  if (WouldUnpickle(content, ctx)) {
    ScanUnpicklable(content, ctx);
    return;
  }
  if (SniffFormat(content.substr(0, 4096)) == Format::kUnknown) {
    ctx.Report(rules::kUnrecognizedFormat, Severity::kMedium,
               "no scanner recognises this content; it does not load as a pickle", 0);
  }
}

}  // namespace gauntlet::scan
