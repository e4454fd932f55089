// Content-addressed blob store on the coordinator's disk, keyed by
// (sha256, size) like REAPI's CAS. Clients upload model files that workers
// cannot read from a shared filesystem; workers fetch them by digest. A blob
// becomes visible only after its bytes were checked against its digest.
#ifndef GAUNTLET_COORDINATOR_CONTENT_STORE_H_
#define GAUNTLET_COORDINATOR_CONTENT_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/digest.h"

namespace gauntlet {

class ContentStore {
 public:
  // Blobs live under `directory` (created if missing). An empty directory
  // disables the store: uploads fail with FAILED_PRECONDITION.
  explicit ContentStore(std::string directory);

  bool enabled() const { return !directory_.empty(); }
  bool Contains(const BlobDigest& digest) const;
  std::string PathOf(const BlobDigest& digest) const;
  // Deletes a stored blob (retention); true when there was one.
  bool Remove(const BlobDigest& digest);

  // Streams one upload. Append the chunks, then Commit() verifies the bytes.
  class Writer {
   public:
    Writer(std::string temp_path, std::string final_path, BlobDigest expected, int fd);
    Writer(Writer&& other) noexcept;
    ~Writer();
    absl::Status Append(std::string_view data);
    absl::Status Commit();

   private:
    std::string temp_path_, final_path_;
    BlobDigest expected_;
    int fd_;
    int64_t written_ = 0;
    Sha256Hasher sha_;
  };
  absl::StatusOr<Writer> StartUpload(const BlobDigest& digest);

 private:
  std::string directory_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_CONTENT_STORE_H_
