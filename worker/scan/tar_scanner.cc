#include "worker/scan/tar_scanner.h"

#include <optional>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/archive_names.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

constexpr uint64_t kBlock = 512;

std::string_view Field(std::string_view header, size_t offset, size_t len) {
  std::string_view f = header.substr(offset, len);
  size_t nul = f.find('\0');
  return nul == std::string_view::npos ? f : f.substr(0, nul);
}

// Octal, or GNU base-256 when the high bit of the first byte is set.
std::optional<uint64_t> Number(std::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80)) {
    uint64_t v = 0;
    for (size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  uint64_t v = 0;
  bool any = false;
  for (char c : field) {
    if (c == '\0' || c == ' ') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7' || (v >> 60)) return std::nullopt;
    v = v * 8 + static_cast<uint64_t>(c - '0');
    any = true;
  }
  return v;
}

bool ChecksumOk(std::string_view header) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  }
  auto stored = Number(header.substr(148, 8));
  return stored && *stored == sum;
}

// "path=..." from a pax extended header ("LEN key=value\n" records).
std::optional<std::string> PaxPath(std::string_view records) {
  while (!records.empty()) {
    size_t space = records.find(' ');
    uint64_t len = 0;
    if (space == std::string_view::npos ||
        !(len = ParseInt<uint64_t>(records.substr(0, space)).value_or(0)) || len <= space ||
        len > records.size()) {
      return std::nullopt;
    }
    std::string_view record = records.substr(space + 1, len - space - 2);
    if (record.substr(0, 5) == "path=") return std::string(record.substr(5));
    records.remove_prefix(len);
  }
  return std::nullopt;
}

std::string DescribeTypeFlag(char type) {
  auto c = static_cast<unsigned char>(type);
  if (c >= 0x20 && c < 0x7f) return StrCat("'", std::string(1, type), "'");
  return StrCat("0x", Hex{c, 2});
}

}  // namespace

void TarScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("tar");
  uint64_t pos = 0;
  uint64_t members = 0;
  std::optional<std::string> long_name;
  while (pos + kBlock <= content.size()) {
    if (ctx.TimedOut()) return;
    std::string_view header = content.substr(pos, kBlock);
    if (header.find_first_not_of('\0') == std::string_view::npos) return;  // End of archive.
    if (!ChecksumOk(header)) {
      ctx.ReportIncomplete(rules::kArchiveMalformed, "tar header checksum mismatch", pos);
      return;
    }
    std::optional<uint64_t> size = Number(header.substr(124, 12));
    uint64_t data = pos + kBlock;
    if (!size || *size > content.size() - data) {
      ctx.ReportIncomplete(rules::kArchiveMalformed, "tar member runs past the end of the file",
                           pos);
      return;
    }
    std::string_view body = content.substr(data, *size);
    uint64_t next = data + (*size + kBlock - 1) / kBlock * kBlock;
    char type = header[156];
    std::string name = std::string(Field(header, 0, 100));
    if (header.substr(257, 5) == "ustar" && !Field(header, 345, 155).empty()) {
      name = StrCat(Field(header, 345, 155), "/", name);
    }
    if (long_name) {
      name = std::move(*long_name);
      long_name.reset();
    }
    pos = next;
    if (type == 'L') {  // GNU long name for the next member.
      long_name = std::string(Field(body, 0, body.size()));
      continue;
    }
    if (type == 'x') {  // pax header for the next member.
      long_name = PaxPath(body);
      continue;
    }
    if (type == 'g' || type == 'X' || type == 'K')
      continue;  // pax global, Solaris pax, GNU long link.
    if (!WithinMemberLimit(ctx, ++members, data - kBlock)) return;
    ReportEscapingName(ctx, name, data - kBlock);
    if (type == '1' || type == '2') {
      ReportLink(ctx, type == '2' ? "symbolic" : "hard", name, Field(header, 157, 100),
                 data - kBlock);
      continue;
    }
    if (type == '3' || type == '4' || type == '5' || type == '6') continue;  // No data.
    if (type != '0' && type != '\0' && type != '7') {
      // GNU tar and Python's tarfile extract a member whose type they do
      // not know (and GNU sparse, multi-volume or dump-dir members) as a
      // regular file, so its bytes are scanned as one.
      ctx.Report(rules::kArchiveUnusualMemberType, Severity::kMedium,
                 StrCat("tar member '", name, "' has type flag ", DescribeTypeFlag(type),
                        ", which extractors write as a regular file"),
                 data - kBlock);
    }
    ctx.ScanMember(name, body);
  }
  // Every exit from a complete archive is the zero block above.
  ctx.ReportIncomplete(rules::kArchiveMalformed,
                       "tar archive is truncated (no end-of-archive block)", pos);
}

}  // namespace gauntlet::scan
