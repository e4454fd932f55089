// Opens a path that a user named or a walk found, for reading, without ever
// blocking. A FIFO would hang open() (and a device or socket read()), and a
// scan that hangs reports nothing; so the path is opened O_NONBLOCK, must be
// a regular file (fstat) and only then goes back to blocking reads.
#ifndef GAUNTLET_COMMON_REGULAR_FILE_H_
#define GAUNTLET_COMMON_REGULAR_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace gauntlet {

// The open descriptor (the caller closes it). FailedPrecondition when the
// path is not a regular file (the message says what it is); otherwise the
// open error, with a symlink loop named as one.
absl::StatusOr<int> OpenRegularFile(const std::string& path);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_REGULAR_FILE_H_
