#include "worker/scan/tf_standard_ops.h"

#include <unordered_set>

#include "common/strings.h"

namespace gauntlet::scan {

std::string_view TfStandardOpsText();

namespace {

std::unordered_set<std::string_view> ParseOpList(std::string_view text) {
  std::unordered_set<std::string_view> ops;
  for (std::string_view line : StrSplit(text, "\n")) {
    if (line.empty() || line.front() == '#') continue;
    ops.insert(line);
  }
  return ops;
}

}  // namespace

bool IsStandardTfOp(std::string_view op) {
  static const std::unordered_set<std::string_view> kOps = ParseOpList(TfStandardOpsText());
  return kOps.count(op) > 0;
}

}  // namespace gauntlet::scan
