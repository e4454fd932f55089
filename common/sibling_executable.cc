#include "common/sibling_executable.h"

#include <unistd.h>

#include <filesystem>

namespace gauntlet {

std::string SiblingExecutable(std::string_view name, std::string_view build_path) {
  std::error_code error;
  auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  std::string beside = (self.parent_path() / name).string();
  if (!error && access(beside.c_str(), X_OK) == 0) return beside;
  return std::string(build_path);
}

}  // namespace gauntlet
