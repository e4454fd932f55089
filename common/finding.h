// A Finding is one thing a scanner saw that a person may need to act on.
// Every scanner produces them, every report writer consumes them.
#ifndef GAUNTLET_COMMON_FINDING_H_
#define GAUNTLET_COMMON_FINDING_H_

#include <cstdint>
#include <string>

#include "common/severity.h"

namespace gauntlet {

struct Location {
  std::string file;     // The path the user asked about.
  std::string member;   // Path inside containers, "outer.zip!/inner.pt!/archive/data.pkl"; empty
                        // when the finding is in the file itself.
  uint64_t offset = 0;  // Byte offset inside the innermost (decompressed) member or file.
};

struct Finding {
  std::string rule_id;  // Stable id from the rule catalog, e.g. "pickle.dangerous_global".
  Severity severity = Severity::kInfo;
  std::string message;  // One sentence a person can act on.
  Location location;
  std::string evidence;  // What was decoded, e.g. "os.system('id')"; may be empty.
};

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_FINDING_H_
