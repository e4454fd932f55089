#include "worker/scan/archive_names.h"

#include <filesystem>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {

bool EscapesExtractionRoot(std::string_view name) {
  if (name.empty()) return false;
  if (name[0] == '/' || name[0] == '\\') return true;
  if (name.size() >= 2 && name[1] == ':') return true;
  for (std::string_view part : StrSplit(name, "/\\")) {
    if (part == "..") return true;
  }
  return false;
}

bool ReportEscapingName(ScanContext& ctx, std::string_view name, uint64_t offset) {
  if (!EscapesExtractionRoot(name)) return false;
  ctx.Report(rules::kArchivePathTraversal, Severity::kHigh,
             StrCat("member '", name, "' extracts outside the target folder"), offset,
             std::string(name));
  return true;
}

void ReportLink(ScanContext& ctx, std::string_view kind, std::string_view name,
                std::string_view target, uint64_t offset) {
  bool escapes = EscapesExtractionRoot(target);
  ctx.Report(escapes ? rules::kArchivePathTraversal : rules::kArchiveLinkMember,
             escapes ? Severity::kHigh : Severity::kMedium,
             StrCat(kind, " link '", name, "' -> '", target, "'"), offset, std::string(target));
}

bool WithinMemberLimit(ScanContext& ctx, uint64_t members, uint64_t offset) {
  if (members <= ctx.limits().max_archive_members) return true;
  ctx.ReportIncomplete(rules::kLimitExceeded,
                       StrCat("archive has more than max_archive_members=",
                              ctx.limits().max_archive_members, " members"),
                       offset);
  return false;
}

std::optional<std::string> SymlinkOutOfFolder(const std::string& file_path,
                                              std::string_view location) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(file_path).parent_path();
  if (dir.empty()) dir = ".";
  fs::path target = dir / std::string(location);
  if (!fs::is_symlink(target, ec)) return std::nullopt;
  fs::path real_dir = fs::weakly_canonical(dir, ec);
  fs::path real_target = fs::weakly_canonical(target, ec);
  std::string prefix = real_dir.string() + "/";
  if (real_target.string().compare(0, prefix.size(), prefix) == 0) return std::nullopt;
  return StrCat("is a symlink to ", real_target.string(), ", outside the model folder");
}

}  // namespace gauntlet::scan
