#include "worker/scan/numpy_scanner.h"

#include <cstring>
#include <regex>

#include "common/strings.h"
#include "common/rules.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {

void NumpyScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("numpy");
  // Magic (6), major, minor, then a u16 (v1) or u32 (v2, v3) header length.
  if (content.size() < 10) {
    ctx.ReportIncomplete(rules::kArchiveMalformed, ".npy header is truncated", 0);
    return;
  }
  auto major = static_cast<unsigned char>(content[6]);
  uint64_t header_len = 0, header_start = 0;
  if (major == 1) {
    uint16_t n;
    std::memcpy(&n, content.data() + 8, 2);
    header_len = n;
    header_start = 10;
  } else if ((major == 2 || major == 3) && content.size() >= 12) {
    uint32_t n;
    std::memcpy(&n, content.data() + 8, 4);
    header_len = n;
    header_start = 12;
  } else {
    ctx.ReportIncomplete(rules::kArchiveMalformed,
                         StrCat(".npy format version ", int{major}, " is not supported"), 6);
    return;
  }
  if (header_len > content.size() - header_start) {
    ctx.ReportIncomplete(rules::kArchiveMalformed, ".npy header runs past the end of the file", 8);
    return;
  }
  std::string header(content.substr(header_start, header_len));
  // The header is a Python dict literal; 'descr' is a type string or, for
  // structured dtypes, a list of fields. Any 'O' type code means objects.
  static const std::regex kDescr(R"('descr'\s*:\s*)");
  static const std::regex kObjectCode(R"(['"][|<>=]?O\d*['"])");
  std::smatch match;
  if (!std::regex_search(header, match, kDescr)) {
    ctx.ReportIncomplete(rules::kArchiveMalformed, ".npy header has no 'descr'", header_start);
    return;
  }
  size_t descr_end = header.find("'fortran_order'", match.position(0));
  if (descr_end == std::string::npos) descr_end = header.find("'shape'", match.position(0));
  std::string descr = header.substr(match.position(0), descr_end == std::string::npos
                                                           ? std::string::npos
                                                           : descr_end - match.position(0));
  if (!std::regex_search(descr, kObjectCode)) return;
  uint64_t data_start = header_start + header_len;
  ctx.Report(rules::kNumpyObjectArray, Severity::kLow,
             "object array: np.load(allow_pickle=True) unpickles the data", data_start, descr);
  ctx.ScanMember("<object array pickle>", content.substr(data_start));
}

}  // namespace gauntlet::scan
