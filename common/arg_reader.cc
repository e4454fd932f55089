#include "common/arg_reader.h"

#include "common/strings.h"

namespace gauntlet {

ArgReader::ArgReader(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    size_t equals = arg.find('=');
    if (StartsWith(arg, "--") && equals != std::string::npos) {
      args_.push_back(arg.substr(0, equals));
      args_.push_back(arg.substr(equals + 1));
    } else {
      args_.push_back(arg);
    }
  }
}

bool ArgReader::Value(std::string& out) {
  if (index_ + 1 >= args_.size()) return false;
  out = args_[++index_];
  return true;
}

bool ArgReader::PositiveNumber(int64_t& out) {
  std::string text;
  if (!Value(text)) return false;
  auto parsed = ParseInt<int64_t>(text);
  if (!parsed || *parsed <= 0) return false;
  out = *parsed;
  return true;
}

}  // namespace gauntlet
