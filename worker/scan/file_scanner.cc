#include "worker/scan/file_scanner.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/regular_file.h"
#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/model_card.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/scanner_registry.h"

namespace gauntlet::scan {
namespace {

// Past this size, page-fault readahead would pull in tensor bytes around
// every header we touch; ask the kernel to read only what we access.
constexpr uint64_t kRandomAccessBytes = 64ull << 20;
constexpr uint64_t kReadWholeBytes = 1ull << 20;

FileReport Unreadable(const std::string& path, std::string why) {
  FileReport report;
  report.path = path;
  report.format = "unreadable";
  report.fully_analysed = false;
  report.findings.push_back(Finding{std::string(rules::kReadError), Severity::kMedium,
                                    std::move(why), Location{path, "", 0}, ""});
  report.verdict = DeriveVerdict(report.findings, false);
  return report;
}

}  // namespace

FileReport ScanBytes(std::string_view display_path, std::string_view content, const Policy& policy,
                     const ScanOptions& options) {
  ScanContext ctx(policy, DefaultScanners(), std::string(display_path));
  if (options.trust == ParserTrust::kHardenedOnly) ctx.ForbidUnhardenedParsers();
  ctx.ScanContent(content);
  AddModelCardFacts(display_path, content, ctx);
  if (options.needs_sandbox) *options.needs_sandbox = ctx.needs_sandbox();
  FileReport report;
  report.path = std::string(display_path);
  report.format = ctx.format_label();
  report.size_bytes = content.size();
  report.fully_analysed = ctx.fully_analysed();
  report.findings = ctx.TakeFindings();
  report.metadata = ctx.TakeMetadata();
  report.verdict = DeriveVerdict(report.findings, report.fully_analysed);
  return report;
}

FileReport ScanFile(const std::string& path, const Policy& policy) {
  absl::StatusOr<int> fd = OpenRegularFile(path);
  if (!fd.ok()) return Unopenable(path, fd.status());
  return ScanOpenFile(*fd, path, policy);
}

FileReport Unopenable(const std::string& path, const absl::Status& why) {
  FileReport report = Unreadable(path, std::string(why.message()));
  if (absl::IsFailedPrecondition(why)) {
    report.format = "not-regular";
    report.findings.front().rule_id = std::string(rules::kNotRegularFile);
  }
  return report;
}

FileReport ScanOpenFile(int fd, const std::string& path, const Policy& policy,
                        const ScanOptions& options) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Unreadable(path, "not a regular file");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < kReadWholeBytes) {
    // Small files: one read() beats mmap/munmap, which serialise threads on
    // the address-space lock.
    thread_local std::string buffer;
    buffer.resize(size);
    uint64_t got = 0;
    while (got < size) {
      ssize_t n = pread(fd, buffer.data() + got, size - got, static_cast<off_t>(got));
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
    }
    close(fd);
    if (got != size) return Unreadable(path, StrCat("short read: ", got, " of ", size, " bytes"));
    return ScanBytes(path, std::string_view(buffer.data(), size), policy, options);
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return Unreadable(path, StrCat("cannot map: ", std::strerror(errno)));
  if (size >= kRandomAccessBytes) madvise(map, size, MADV_RANDOM);
  FileReport report =
      ScanBytes(path, std::string_view(static_cast<const char*>(map), size), policy, options);
  munmap(map, size);
  return report;
}

}  // namespace gauntlet::scan
