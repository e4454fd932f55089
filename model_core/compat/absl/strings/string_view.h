// The model core's stand-in for Abseil's string_view, for builds without
// Abseil (model_core/CMakeLists.txt). A type of its own, as Debian's Abseil
// has it, so common/strings.h's overloads stay distinct.
#ifndef GAUNTLET_MODEL_CORE_COMPAT_ABSL_STRINGS_STRING_VIEW_H_
#define GAUNTLET_MODEL_CORE_COMPAT_ABSL_STRINGS_STRING_VIEW_H_

#include <string>
#include <string_view>

namespace absl {

class string_view : public std::string_view {
 public:
  using std::string_view::string_view;
  string_view(std::string_view text) : std::string_view(text) {}  // NOLINT: implicit as in Abseil.
  explicit operator std::string() const { return std::string(data(), size()); }
};

}  // namespace absl

#endif  // GAUNTLET_MODEL_CORE_COMPAT_ABSL_STRINGS_STRING_VIEW_H_
