// The model core's stand-in for absl::StatusOr (see status.h): a value or
// the error that stopped it. Like Abseil's, it is never an OK status without
// a value: constructing one from OkStatus() holds an INTERNAL error.
#ifndef GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUSOR_H_
#define GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUSOR_H_

#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/status/status.h"

namespace absl {

template <typename T>
class StatusOr {
 public:
  StatusOr(const Status& status) : held_(Checked(status)) {}  // NOLINT: implicit as in Abseil.
  StatusOr(Status&& status) : held_(Checked(std::move(status))) {}  // NOLINT
  template <typename U = T>
  requires std::is_constructible_v<T, U&&> &&
      (!std::is_same_v<std::decay_t<U>, Status>)&&(!std::is_same_v<std::decay_t<U>, StatusOr>)
          StatusOr(U&& value)
      : held_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT

  bool ok() const { return held_.index() == 1; }
  Status status() const { return ok() ? Status() : std::get<0>(held_); }

  // Reading the value of an error is a bug in the caller: it aborts, as
  // Abseil's does, naming the error.
  T& value() & { return Value(); }
  const T& value() const& { return const_cast<StatusOr*>(this)->Value(); }
  T&& value() && { return std::move(Value()); }
  T& operator*() & { return Value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(Value()); }
  T* operator->() { return &Value(); }
  const T* operator->() const { return &value(); }

 private:
  static Status Checked(Status status) {
    return status.ok() ? InternalError("OK status given to StatusOr without a value") : status;
  }
  T& Value() {
    if (!ok()) {
      std::fprintf(stderr, "value() of an error StatusOr: %s\n",
                   std::get<0>(held_).ToString().c_str());
      std::abort();
    }
    return std::get<1>(held_);
  }

  std::variant<Status, T> held_;
};

}  // namespace absl

#endif  // GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUSOR_H_
