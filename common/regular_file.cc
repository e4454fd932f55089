#include "common/regular_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

const char* Kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

constexpr int kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;

absl::Status OpenError(int error) {
  if (error == ELOOP)
    return absl::FailedPreconditionError("a symlink loop (too many levels of symbolic links)");
  std::string why = StrCat("cannot open: ", std::strerror(error));
  if (error == ENOENT) return absl::NotFoundError(why);
  if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(why);
  return absl::UnavailableError(why);
}

absl::Status Escapes(const std::string& root) {
  return absl::PermissionDeniedError(
      StrCat("refused at open: the path now resolves outside the allowed root ", root,
             " (replaced by a symlink since the job was submitted?)"));
}

// Where openat2 is missing: open, then check where the descriptor really
// points. The check is on the opened file, so a later swap cannot fool it.
absl::StatusOr<int> OpenThenCheck(const std::string& root, const std::string& path) {
  int fd = open(path.c_str(), kOpenFlags);
  if (fd < 0) return OpenError(errno);
  char real[4096];
  ssize_t n = readlink(StrCat("/proc/self/fd/", fd).c_str(), real, sizeof real - 1);
  if (n <= 0 || !PathWithin(std::string(real, static_cast<size_t>(n)), root)) {
    close(fd);
    return Escapes(root);
  }
  return fd;
}

// A regular file, switched back to blocking reads; closes `fd` otherwise.
absl::StatusOr<int> RegularOnly(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(
        StrCat("not scanned: it is ", Kind(st.st_mode), ", which is never opened for reading"));
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    close(fd);
    return absl::UnavailableError(
        StrCat("cannot switch to blocking reads: ", std::strerror(errno)));
  }
  return fd;
}

}  // namespace

bool PathWithin(const std::string& path, const std::string& root) {
  if (path == root) return true;
  return StartsWith(path, EndsWith(root, "/") ? root : root + "/");
}

absl::StatusOr<int> OpenRegularFile(const std::string& path) {
  int fd = open(path.c_str(), kOpenFlags);
  if (fd < 0) return OpenError(errno);
  return RegularOnly(fd);
}

absl::StatusOr<int> OpenRegularFileBeneath(const std::string& root, const std::string& path) {
  if (path == root || !PathWithin(path, root)) return Escapes(root);
  int directory = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory < 0) return OpenError(errno);
  open_how how{};
  how.flags = kOpenFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::string relative = path.substr(root == "/" ? 1 : root.size() + 1);
  long fd = syscall(SYS_openat2, directory, relative.c_str(), &how, sizeof how);
  int error = errno;
  close(directory);
  // ENOSYS: a kernel before 5.6. EXDEV: the path leaves the root, or takes
  // an absolute symlink, which RESOLVE_BENEATH refuses even when it lands
  // inside the root; the check on the opened file tells the two apart.
  if (fd < 0 && (error == ENOSYS || error == EXDEV)) {
    auto checked = OpenThenCheck(root, path);
    if (!checked.ok()) return checked.status();
    return RegularOnly(*checked);
  }
  if (fd < 0) return OpenError(error);
  return RegularOnly(static_cast<int>(fd));
}

}  // namespace gauntlet
