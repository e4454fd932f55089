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

// The same, for a cluster worker: `path` (absolute, under `root`) is
// resolved at open time and may not leave `root`, whatever was swapped in
// since the job was submitted: a symlink (or `..`) out of the root is
// PermissionDenied. openat2(RESOLVE_BENEATH) where the kernel has it (5.6+),
// so nothing outside the root is even opened; an absolute symlink (which
// RESOLVE_BENEATH refuses) or an older kernel falls back to checking the
// opened file's real path against the root.
absl::StatusOr<int> OpenRegularFileBeneath(const std::string& root, const std::string& path);

// Whether the resolved absolute `path` is `root` or lies beneath it (by
// components: /models2 is not within /models). The one containment rule of
// submit-time checks and open-time confinement.
bool PathWithin(const std::string& path, const std::string& root);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_REGULAR_FILE_H_
