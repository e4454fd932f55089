#include "common/digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/regular_file.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

std::string HexOf(const unsigned char* bytes, unsigned size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

}  // namespace

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(std::string_view bytes) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
}

std::string Sha256Hasher::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), digest, &size);
  return HexOf(digest, size);
}

absl::Status ValidateDigest(const BlobDigest& digest) {
  bool hex = digest.sha256.size() == 64;
  for (char c : digest.sha256) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!hex)
    return absl::InvalidArgumentError(
        StrCat("digest '", digest.sha256, "' is not 64 lowercase hex digits of SHA-256"));
  if (digest.size_bytes < 0) return absl::InvalidArgumentError("digest size is negative");
  return absl::OkStatus();
}

absl::StatusOr<BlobDigest> DigestFile(const std::string& path) {
  absl::StatusOr<int> opened = OpenRegularFile(path);
  if (!opened.ok()) return opened.status();
  auto digest = DigestOpenFile(*opened, path);
  close(*opened);
  return digest;
}

absl::StatusOr<BlobDigest> DigestOpenFile(int fd, const std::string& name) {
  Sha256Hasher hasher;
  thread_local std::string buffer(1 << 20, '\0');
  int64_t total = 0;
  ssize_t n;
  while ((n = pread(fd, buffer.data(), buffer.size(), total)) > 0) {
    hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    total += n;
  }
  if (n < 0) return absl::DataLossError(StrCat("cannot read ", name, ": ", strerror(errno)));
  return BlobDigest{hasher.FinishHex(), total};
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  return HexOf(digest, size);
}

}  // namespace gauntlet
