// Finds a helper binary that ships beside the running one (gauntlet-lab
// beside gauntlet, gauntlet-scan-sandbox beside gauntlet-worker). Installed
// binaries sit side by side; in the build tree they live in different
// folders, so each caller also names its build-tree path.
#ifndef GAUNTLET_COMMON_SIBLING_EXECUTABLE_H_
#define GAUNTLET_COMMON_SIBLING_EXECUTABLE_H_

#include <string>
#include <string_view>

namespace gauntlet {

// `name` beside /proc/self/exe when it is executable there, else `build_path`.
std::string SiblingExecutable(std::string_view name, std::string_view build_path);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_SIBLING_EXECUTABLE_H_
