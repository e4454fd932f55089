// The model core's stand-in for absl::Status, for builds on machines with a
// PyTorch but no Abseil (model_core/CMakeLists.txt): the same names and
// meaning for the part the core uses, a code and a message. The main build
// never sees this file; it links Debian's Abseil.
#ifndef GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUS_H_
#define GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUS_H_

#include <ostream>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace absl {

// Abseil's (and gRPC's) canonical codes and numbers.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

inline std::string StatusCodeToString(StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  int index = static_cast<int>(code);
  return index >= 0 && index <= 16 ? kNames[index] : "UNKNOWN";
}

class Status {
 public:
  Status() = default;
  // As in Abseil, an OK status keeps no message.
  Status(StatusCode code, std::string_view message)
      : code_(code), message_(code == StatusCode::kOk ? "" : message) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  absl::string_view message() const { return absl::string_view(message_); }
  // "INVALID_ARGUMENT: message", or "OK".
  std::string ToString() const { return ok() ? "OK" : StatusCodeToString(code_) + ": " + message_; }
  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& out, const Status& status) {
  return out << status.ToString();
}

inline Status OkStatus() { return Status(); }
inline Status CancelledError(std::string_view m) { return {StatusCode::kCancelled, m}; }
inline Status UnknownError(std::string_view m) { return {StatusCode::kUnknown, m}; }
inline Status InvalidArgumentError(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
inline Status NotFoundError(std::string_view m) { return {StatusCode::kNotFound, m}; }
inline Status ResourceExhaustedError(std::string_view m) {
  return {StatusCode::kResourceExhausted, m};
}
inline Status FailedPreconditionError(std::string_view m) {
  return {StatusCode::kFailedPrecondition, m};
}
inline Status OutOfRangeError(std::string_view m) { return {StatusCode::kOutOfRange, m}; }
inline Status UnimplementedError(std::string_view m) { return {StatusCode::kUnimplemented, m}; }
inline Status InternalError(std::string_view m) { return {StatusCode::kInternal, m}; }
inline Status DataLossError(std::string_view m) { return {StatusCode::kDataLoss, m}; }

inline bool IsInvalidArgument(const Status& s) { return s.code() == StatusCode::kInvalidArgument; }
inline bool IsNotFound(const Status& s) { return s.code() == StatusCode::kNotFound; }
inline bool IsFailedPrecondition(const Status& s) {
  return s.code() == StatusCode::kFailedPrecondition;
}

}  // namespace absl

#endif  // GAUNTLET_MODEL_CORE_COMPAT_ABSL_STATUS_STATUS_H_
