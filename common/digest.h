// Content digests: (SHA-256, size), the key of the content store and of the
// verdict cache.
#ifndef GAUNTLET_COMMON_DIGEST_H_
#define GAUNTLET_COMMON_DIGEST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gauntlet {

struct BlobDigest {
  std::string sha256;  // Lowercase hex.
  int64_t size_bytes = 0;
};

// INVALID_ARGUMENT unless `digest` is 64 lowercase hex digits and a size >= 0.
absl::Status ValidateDigest(const BlobDigest& digest);

// Streams a file through SHA-256.
absl::StatusOr<BlobDigest> DigestFile(const std::string& path);
// The same for an open file, from its first byte (pread: the descriptor's
// offset is left alone); `name` is for the error message.
absl::StatusOr<BlobDigest> DigestOpenFile(int fd, const std::string& name);

// Incremental SHA-256 for streams (uploads, files read in chunks).
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }
  Sha256Hasher(const Sha256Hasher&) = delete;
  ~Sha256Hasher();
  void Update(std::string_view bytes);
  std::string FinishHex();  // Lowercase hex; call once.

 private:
  void* ctx_;  // EVP_MD_CTX*
};

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_DIGEST_H_
