// Walks a command line's options for the three binaries (gauntlet,
// gauntlet-coordinator, gauntlet-worker): the option at hand, and its value
// as text or as a positive number, with false when it is missing or bad.
#ifndef GAUNTLET_COMMON_ARG_READER_H_
#define GAUNTLET_COMMON_ARG_READER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gauntlet {

class ArgReader {
 public:
  // "--flag=value" reads as "--flag" "value" (Kubernetes manifests write it so).
  explicit ArgReader(const std::vector<std::string>& args);

  // Advances to the next argument; false at the end.
  bool Next() { return ++index_ < args_.size(); }
  const std::string& arg() const { return args_[index_]; }
  // Consumes the argument after the current one.
  bool Value(std::string& out);
  // Consumes it as a whole positive decimal number.
  bool PositiveNumber(int64_t& out);

 private:
  std::vector<std::string> args_;
  size_t index_ = static_cast<size_t>(-1);
};

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_ARG_READER_H_
