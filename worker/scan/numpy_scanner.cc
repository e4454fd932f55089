#include "worker/scan/numpy_scanner.h"

#include <cstring>
#include <regex>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

// A numeric array is inert, but a truncated one is still not "fully
// analysed": compare the bytes present with shape x itemsize (simple dtypes).
void CheckDataSize(const std::string& header, uint64_t available, uint64_t data_start,
                   ScanContext& ctx) {
  static const std::regex kSimpleDescr(R"('descr'\s*:\s*'[<>|=]?([a-zA-Z])(\d*)')");
  static const std::regex kShape(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch descr, shape;
  if (!std::regex_search(header, descr, kSimpleDescr) ||
      !std::regex_search(header, shape, kShape)) {
    return;  // Structured dtypes: the size is not worth re-deriving here.
  }
  uint64_t bytes = descr[2].length() ? std::stoull(descr[2].str()) : 1;
  if (descr[1].str() == "U") bytes *= 4;
  for (std::string_view dim :
       StrSplit(std::string_view(shape[1].first.base(), shape[1].length()), ",")) {
    while (!dim.empty() && dim.front() == ' ') dim.remove_prefix(1);
    while (!dim.empty() && dim.back() == ' ') dim.remove_suffix(1);
    if (dim.empty()) continue;
    auto n = ParseInt<uint64_t>(dim);
    if (!n || (*n && bytes > UINT64_MAX / *n)) {
      ctx.ReportIncomplete(rules::kArchiveMalformed, ".npy shape is not a tuple of sizes", 8);
      return;
    }
    bytes *= *n;
  }
  if (available < bytes) {
    ctx.ReportIncomplete(rules::kArchiveMalformed,
                         StrCat(".npy data is truncated: ", available, " of ", bytes, " bytes"),
                         data_start);
  }
}

}  // namespace

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
  uint64_t data_start = header_start + header_len;
  if (!std::regex_search(descr, kObjectCode)) {
    CheckDataSize(header, content.size() - data_start, data_start, ctx);
    return;
  }
  ctx.Report(rules::kNumpyObjectArray, Severity::kLow,
             "object array: np.load(allow_pickle=True) unpickles the data", data_start, descr);
  ctx.ScanMember("<object array pickle>", content.substr(data_start));
}

}  // namespace gauntlet::scan
