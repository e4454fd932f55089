#include "coordinator/local_scan_job.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "common/strings.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace fs = std::filesystem;

namespace {

void Walk(const fs::path& dir, std::set<std::pair<dev_t, ino_t>>& seen,
          std::vector<std::string>& out) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) return;
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
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
  return files;
}

ScanReport RunLocalScanJob(const std::vector<std::string>& files, const Policy& policy,
                           const LocalScanOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  ScanReport report;
  report.tool_version = GAUNTLET_VERSION;
  report.policy_source = policy.source();
  report.files.resize(files.size());

  int workers = options.workers > 0
                    ? options.workers
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers = static_cast<int>(
      std::min<size_t>(static_cast<size_t>(workers), std::max<size_t>(files.size(), 1)));
  std::atomic<size_t> next{0}, done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back([&] {
      for (size_t index; (index = next.fetch_add(1)) < files.size();) {
        report.files[index] = scan::ScanFile(files[index], policy);
        done.fetch_add(1, std::memory_order_release);
      }
    });
  }
  if (options.on_progress) {
    while (done.load(std::memory_order_acquire) < files.size()) {
      options.on_progress(done.load(), files.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (std::thread& t : threads) t.join();
  if (options.on_progress) options.on_progress(files.size(), files.size());
  report.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace gauntlet
