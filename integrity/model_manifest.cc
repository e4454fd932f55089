#include "integrity/model_manifest.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <system_error>
#include <thread>

#include "absl/strings/escaping.h"
#include "common/digest.h"
#include "common/strings.h"

namespace gauntlet::integrity {

namespace fs = std::filesystem;

std::vector<std::string> DefaultIgnoredPaths() {
  return {std::string(kSignatureFileName), ".git", ".gitattributes", ".github", ".gitignore"};
}

namespace {

bool IsIgnored(const std::string& relative, const std::vector<std::string>& ignored) {
  for (const std::string& path : ignored)
    if (relative == path || StartsWith(relative, path + "/")) return true;
  return false;
}

// The paths to hash, sorted; symbolic links and special files are errors.
absl::StatusOr<std::vector<std::string>> ListFiles(const fs::path& folder,
                                                   const std::vector<std::string>& ignored) {
  std::error_code error;
  if (!fs::is_directory(fs::symlink_status(folder, error)))
    return absl::InvalidArgumentError(StrCat(folder.string(), " is not a folder"));
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(folder, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::string relative = it->path().lexically_relative(folder).generic_string();
    if (IsIgnored(relative, ignored)) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    fs::file_status status = it->symlink_status(error);
    if (error) break;
    if (fs::is_symlink(status))
      return absl::FailedPreconditionError(
          StrCat(it->path().string(),
                 " is a symbolic link: a signed model folder holds its "
                 "files itself (a link can point outside it)"));
    if (fs::is_directory(status)) continue;
    if (!fs::is_regular_file(status))
      return absl::FailedPreconditionError(
          StrCat(it->path().string(), " is neither a file nor a folder"));
    files.push_back(std::move(relative));
  }
  if (error)
    return absl::UnavailableError(StrCat("cannot list ", folder.string(), ": ", error.message()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

absl::StatusOr<std::vector<ManifestEntry>> HashModelFolder(
    const fs::path& folder, const std::vector<std::string>& ignored) {
  auto files = ListFiles(folder, ignored);
  if (!files.ok()) return files.status();
  std::vector<ManifestEntry> entries(files->size());
  std::vector<absl::Status> errors(files->size());
  // Shards of a large model hash in parallel: reading is the bottleneck on
  // fast disks only when several files are read at once.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files->size(); i = next++) {
      auto digest = DigestFile((folder / (*files)[i]).string());
      if (digest.ok())
        entries[i] = {(*files)[i], digest->sha256};
      else
        errors[i] = digest.status();
    }
  };
  size_t threads =
      std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), files->size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  for (const absl::Status& status : errors)
    if (!status.ok()) return status;
  return entries;
}

absl::StatusOr<std::string> RootDigest(const std::vector<ManifestEntry>& entries) {
  Sha256Hasher hasher;
  for (const ManifestEntry& entry : entries) {
    if (auto valid = ValidateDigest({entry.sha256, 0}); !valid.ok())
      return absl::InvalidArgumentError(
          StrCat("the digest of ", entry.path, " is not a SHA-256: '", entry.sha256, "'"));
    hasher.Update(absl::HexStringToBytes(entry.sha256));
  }
  return hasher.FinishHex();
}

std::string_view FileChangeName(FileChange::Kind kind) {
  switch (kind) {
    case FileChange::Kind::kChanged:
      return "changed";
    case FileChange::Kind::kAdded:
      return "added";
    case FileChange::Kind::kRemoved:
      return "removed";
  }
  return "changed";
}

std::vector<FileChange> CompareManifests(const std::vector<ManifestEntry>& signed_entries,
                                         const std::vector<ManifestEntry>& now) {
  std::map<std::string, std::pair<const std::string*, const std::string*>> by_path;
  for (const ManifestEntry& entry : signed_entries) by_path[entry.path].first = &entry.sha256;
  for (const ManifestEntry& entry : now) by_path[entry.path].second = &entry.sha256;
  std::vector<FileChange> changes;
  for (const auto& [path, digests] : by_path) {
    const auto& [was, is] = digests;
    if (!is)
      changes.push_back({FileChange::Kind::kRemoved, path});
    else if (!was)
      changes.push_back({FileChange::Kind::kAdded, path});
    else if (*was != *is)
      changes.push_back({FileChange::Kind::kChanged, path});
  }
  return changes;
}

}  // namespace gauntlet::integrity
