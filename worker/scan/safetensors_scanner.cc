#include "worker/scan/safetensors_scanner.h"

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/config_instantiation.h"
#include "worker/scan/safetensors_header.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {

void SafetensorsScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("safetensors");
  auto header = ParseSafetensorsHeader(content);
  if (!header.ok()) {
    ctx.ReportIncomplete(rules::kSafetensorsInvalid, std::string(header.status().message()), 8);
    return;
  }
  ctx.AddMetadata("safetensors.tensors", StrCat(header->tensors.size()));
  for (const auto& [key, value] : header->metadata) {
    ctx.AddMetadata(StrCat("__metadata__.", key), value);
    // Frameworks keep their configs here as JSON or YAML text.
    AnalyzeConfigText(value, StrCat("__metadata__.", key), 8, ctx);
  }
}

}  // namespace gauntlet::scan
