#include "coordinator/scan_paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "common/strings.h"

namespace gauntlet {
namespace fs = std::filesystem;

namespace {

void Walk(const fs::path& dir, std::set<std::pair<dev_t, ino_t>>& seen,
          std::vector<std::string>& out) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) return;
  std::error_code ec;
  std::vector<fs::path> children;
  // No skip_permission_denied: a folder the walk cannot read is an entry of
  // its own, reported unreadable (ERROR), never silently left out.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    children.push_back(it->path());
  }
  if (ec) {
    out.push_back(dir.string());  // Reported as unreadable by the scan.
    return;
  }
  for (const fs::path& child : children) {
    std::error_code type_ec;
    if (fs::is_directory(child, type_ec)) {  // Follows symlinks, like HF cache snapshots.
      if (child.filename() != ".git") Walk(child, seen, out);
    } else {
      out.push_back(child.string());
    }
  }
}

// The Hugging Face cache links snapshots/REV/NAME to blobs/SHA: scanning the
// cache would report every file twice. The snapshot path names the file and
// places it in its model, so a blob reached through a snapshot is dropped.
std::vector<std::string> DropLinkedDuplicates(std::vector<std::string> files) {
  auto rank = [](const std::string& path) {
    return path.find("/blobs/") == std::string::npos ? 0 : 1;
  };
  std::vector<size_t> order(files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rank(files[a]) < rank(files[b]); });
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<bool> keep(files.size(), true);
  for (size_t index : order) {
    struct stat st {};
    if (stat(files[index].c_str(), &st) != 0) continue;  // Reported as unreadable later.
    bool first = seen.insert({st.st_dev, st.st_ino}).second;
    // Other links (hard links across model folders, symlinked files) keep
    // every path: each model's report must list all of its files.
    keep[index] = first || rank(files[index]) == 0;
  }
  std::vector<std::string> kept;
  for (size_t i = 0; i < files.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(files[i]));
  }
  return kept;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ExpandScanPaths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      return absl::NotFoundError(StrCat("no such file or directory: ", path));
    }
    if (fs::is_directory(status)) {
      Walk(path, seen, files);
    } else {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return DropLinkedDuplicates(std::move(files));
}

}  // namespace gauntlet
