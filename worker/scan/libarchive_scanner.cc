#include "worker/scan/libarchive_scanner.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/archive_names.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

std::string ArchiveError(archive* a) {
  const char* message = archive_error_string(a);
  return message ? message : "unknown libarchive error";
}

}  // namespace

void LibarchiveScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat(std::string(FormatName(SniffFormat(content.substr(0, 64)))));
  if (!ctx.MayRunUnhardenedParser()) return;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  archive_read_support_format_7zip(a.get());
  archive_read_support_format_rar(a.get());
  archive_read_support_format_rar5(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_memory(a.get(), content.data(), content.size()) != ARCHIVE_OK) {
    ctx.ReportIncomplete(rules::kArchiveMalformed,
                         StrCat("cannot open archive: ", ArchiveError(a.get())), 0);
    return;
  }
  uint64_t members = 0;
  archive_entry* entry = nullptr;
  while (true) {
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) return;
    if (rc < ARCHIVE_WARN) {
      ctx.ReportIncomplete(rules::kArchiveMalformed,
                           StrCat("archive is damaged: ", ArchiveError(a.get())), 0);
      return;
    }
    if (ctx.TimedOut()) return;
    if (!WithinMemberLimit(ctx, ++members, 0)) return;
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name ? raw_name : "";
    ReportEscapingName(ctx, name, 0);
    if (const char* symlink = archive_entry_symlink(entry)) {
      ReportLink(ctx, "symbolic", name, symlink, 0);
      continue;
    }
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      ReportLink(ctx, "hard", name, hardlink, 0);
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    if (archive_entry_is_encrypted(entry)) {
      ctx.ReportIncomplete(rules::kZipEncrypted,
                           StrCat("'", name, "' is encrypted and was not analysed"), 0);
      continue;
    }
    uint64_t room = ctx.DecompressionRoom();
    if (archive_entry_size_is_set(entry) &&
        static_cast<uint64_t>(archive_entry_size(entry)) > room) {
      ctx.ReportIncomplete(rules::kLimitExceeded,
                           StrCat("'", name, "' is ", archive_entry_size(entry),
                                  " bytes, over the decompression budget"),
                           0);
      continue;
    }
    std::string data;
    char buffer[64 * 1024];
    la_ssize_t n;
    bool over = false;
    while ((n = archive_read_data(a.get(), buffer, sizeof(buffer))) > 0) {
      if (data.size() + static_cast<uint64_t>(n) > room) {
        over = true;
        break;
      }
      data.append(buffer, static_cast<size_t>(n));
    }
    if (over) {
      ctx.ReportIncomplete(rules::kLimitExceeded,
                           StrCat("'", name, "' decompresses past the decompression budget"), 0);
      continue;
    }
    if (n < 0) {
      ctx.ReportIncomplete(rules::kArchiveMalformed,
                           StrCat("'", name, "' cannot be extracted: ", ArchiveError(a.get())), 0);
      return;
    }
    ctx.HoldDecompressed(data.size());
    ctx.ScanMember(name, data);
    ctx.ReleaseDecompressed(data.size());
  }
}

}  // namespace gauntlet::scan
