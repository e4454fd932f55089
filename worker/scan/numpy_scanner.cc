#include "worker/scan/numpy_scanner.h"

#include <cstring>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/npy_header.h"
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
  absl::StatusOr<NpyHeader> header = ParseNpyHeader(content.substr(header_start, header_len));
  if (!header.ok()) {
    ctx.ReportIncomplete(rules::kArchiveMalformed, std::string(header.status().message()),
                         header_start);
    return;
  }
  uint64_t data_start = header_start + header_len;
  if (header->has_objects) {
    ctx.Report(rules::kNumpyObjectArray, Severity::kLow,
               "object array: np.load(allow_pickle=True) unpickles the data", data_start,
               header->descr);
    ctx.ScanMember("<object array pickle>", content.substr(data_start));
    return;
  }
  // A numeric array is inert (its bytes are never parsed), but a truncated
  // one is still not "fully analysed".
  if (header->item_size && header->elements &&
      (*header->elements == 0 || *header->item_size <= UINT64_MAX / *header->elements)) {
    uint64_t bytes = *header->item_size * *header->elements;
    uint64_t available = content.size() - data_start;
    if (available < bytes) {
      ctx.ReportIncomplete(rules::kArchiveMalformed,
                           StrCat(".npy data is truncated: ", available, " of ", bytes, " bytes"),
                           data_start);
    }
  }
}

}  // namespace gauntlet::scan
