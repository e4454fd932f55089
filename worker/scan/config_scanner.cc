#include "worker/scan/config_scanner.h"

#include "worker/scan/config_instantiation.h"
#include "worker/scan/pickle_scanner.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {

void ConfigScanner::Scan(std::string_view content, ScanContext& ctx) const {
  if (WouldUnpickle(content, ctx)) {
    ScanUnpicklable(content, ctx);
    return;
  }
  AnalyzeConfigText(content, "", 0, ctx);
}

}  // namespace gauntlet::scan
