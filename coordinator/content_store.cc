#include "coordinator/content_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace gauntlet {

ContentStore::ContentStore(std::string directory) : directory_(std::move(directory)) {
  if (!directory_.empty()) std::filesystem::create_directories(directory_ + "/tmp");
}

std::string ContentStore::PathOf(const BlobDigest& digest) const {
  return StrCat(directory_, "/", digest.sha256, "_", digest.size_bytes);
}

bool ContentStore::Contains(const BlobDigest& digest) const {
  struct stat st {};
  return enabled() && ValidateDigest(digest).ok() && stat(PathOf(digest).c_str(), &st) == 0;
}

bool ContentStore::Remove(const BlobDigest& digest) {
  return enabled() && ValidateDigest(digest).ok() && unlink(PathOf(digest).c_str()) == 0;
}

absl::StatusOr<ContentStore::Writer> ContentStore::StartUpload(const BlobDigest& digest) {
  if (!enabled()) return absl::FailedPreconditionError("this coordinator has no content store");
  if (auto status = ValidateDigest(digest); !status.ok()) return status;
  static std::atomic<uint64_t> counter{0};
  std::string temp = StrCat(directory_, "/tmp/", digest.sha256, ".", getpid(), ".", counter++);
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(StrCat("cannot create ", temp, ": ", strerror(errno)));
  return Writer(temp, PathOf(digest), digest, fd);
}

ContentStore::Writer::Writer(std::string temp_path, std::string final_path, BlobDigest expected,
                             int fd)
    : temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      expected_(std::move(expected)),
      fd_(fd) {}

ContentStore::Writer::Writer(Writer&& other) noexcept
    : temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      expected_(std::move(other.expected_)),
      fd_(other.fd_),
      written_(other.written_),
      sha_(std::move(other.sha_)) {
  other.fd_ = -1;
}

ContentStore::Writer::~Writer() {
  if (fd_ >= 0) {
    close(fd_);
    unlink(temp_path_.c_str());
  }
}

absl::Status ContentStore::Writer::Append(std::string_view data) {
  if (written_ + static_cast<int64_t>(data.size()) > expected_.size_bytes)
    return absl::InvalidArgumentError(
        StrCat("upload is larger than its digest's size ", expected_.size_bytes));
  sha_.Update(data);
  while (!data.empty()) {
    ssize_t n = write(fd_, data.data(), data.size());
    if (n < 0) return absl::InternalError(StrCat("write failed: ", strerror(errno)));
    data.remove_prefix(static_cast<size_t>(n));
    written_ += n;
  }
  return absl::OkStatus();
}

absl::Status ContentStore::Writer::Commit() {
  std::string actual = sha_.FinishHex();
  if (written_ != expected_.size_bytes || actual != expected_.sha256)
    return absl::InvalidArgumentError(StrCat("uploaded bytes (", written_, " bytes, sha256 ",
                                             actual, ") do not match the digest ", expected_.sha256,
                                             "/", expected_.size_bytes));
  if (fsync(fd_) != 0 || close(fd_) != 0) {
    fd_ = -1;
    return absl::InternalError(StrCat("cannot flush the upload: ", strerror(errno)));
  }
  fd_ = -1;
  if (rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    return absl::InternalError(StrCat("cannot store the blob: ", strerror(errno)));
  return absl::OkStatus();
}

}  // namespace gauntlet
