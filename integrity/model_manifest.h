// A model folder's manifest: every file's SHA-256 under its relative path,
// as the OpenSSF model-signing (OMS) "files" serialization defines it. The
// manifest is what a signature covers; comparing two manifests names every
// file that was changed, added or removed.
#ifndef GAUNTLET_INTEGRITY_MODEL_MANIFEST_H_
#define GAUNTLET_INTEGRITY_MODEL_MANIFEST_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::integrity {

// The signature's own file name inside the model folder.
inline constexpr std::string_view kSignatureFileName = "model.sig";

// What OMS leaves out of a folder's manifest by default: the signature
// itself and version-control metadata.
std::vector<std::string> DefaultIgnoredPaths();

struct ManifestEntry {
  std::string path;    // Relative, '/'-separated, e.g. "tokenizer/vocab.json".
  std::string sha256;  // Lowercase hex.
  bool operator==(const ManifestEntry&) const = default;
};

// Every regular file under `folder`, sorted by path, except paths equal to
// or under one of `ignored` (relative paths). A symbolic link is an error
// (OMS's allow_symlinks=false: a link can point outside the signed folder),
// as is anything that is neither a file nor a folder.
absl::StatusOr<std::vector<ManifestEntry>> HashModelFolder(const std::filesystem::path& folder,
                                                           const std::vector<std::string>& ignored);

// The OMS root digest: SHA-256 over the entries' raw digests in path order.
// INVALID_ARGUMENT when an entry's digest is not 64 hex digits.
absl::StatusOr<std::string> RootDigest(const std::vector<ManifestEntry>& entries);

// How a folder differs from a signed manifest.
struct FileChange {
  enum class Kind { kChanged, kAdded, kRemoved };
  Kind kind;
  std::string path;
};
std::string_view FileChangeName(FileChange::Kind kind);  // "changed", "added", "removed".

// The files of `now` that differ from `signed_entries`, in path order.
std::vector<FileChange> CompareManifests(const std::vector<ManifestEntry>& signed_entries,
                                         const std::vector<ManifestEntry>& now);

}  // namespace gauntlet::integrity

#endif  // GAUNTLET_INTEGRITY_MODEL_MANIFEST_H_
