#include "worker/scan/archive_names.h"

#include "common/strings.h"

namespace gauntlet::scan {

bool EscapesExtractionRoot(std::string_view name) {
  if (name.empty()) return false;
  if (name[0] == '/' || name[0] == '\\') return true;
  if (name.size() >= 2 && name[1] == ':') return true;
  for (std::string_view part : StrSplit(name, "/\\")) {
    if (part == "..") return true;
  }
  return false;
}

}  // namespace gauntlet::scan
