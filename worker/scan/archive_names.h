// Checks on archive members shared by every archive scanner (zip, tar,
// libarchive formats): escaping names, links, and the member-count limit.
#ifndef GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_
#define GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gauntlet::scan {

class ScanContext;

// True for names that extract outside the target folder: absolute paths,
// drive letters, or a ".." component (zip-slip).
bool EscapesExtractionRoot(std::string_view name);

// Why `location` (relative to the folder holding `file_path`) is a symlink
// out of that folder, or nullopt when it is not one or cannot be looked at.
// This reads the filesystem: sandboxed parsers cannot, so workers run it on
// the locations a parser reported (onnx.external_data).
std::optional<std::string> SymlinkOutOfFolder(const std::string& file_path,
                                              std::string_view location);

// Reports `name` as archive.path_traversal (HIGH) when it escapes; returns
// whether it did.
bool ReportEscapingName(ScanContext& ctx, std::string_view name, uint64_t offset);

// Reports a link member: archive.path_traversal (HIGH) when its target
// escapes, archive.link_member (MEDIUM) otherwise. `kind` is e.g. "symbolic".
void ReportLink(ScanContext& ctx, std::string_view kind, std::string_view name,
                std::string_view target, uint64_t offset);

// False, after reporting the limit, once `members` exceeds
// limits().max_archive_members; the caller stops reading the archive.
bool WithinMemberLimit(ScanContext& ctx, uint64_t members, uint64_t offset);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_ARCHIVE_NAMES_H_
