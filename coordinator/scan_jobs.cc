#include "coordinator/scan_jobs.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "common/regular_file.h"
#include "common/strings.h"
#include "coordinator/model_aggregator.h"
#include "coordinator/scan_paths.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

// Names shown in reports (the client's own paths, often absolute): no
// '.'/'..' components that would make a report name another file than the
// one uploaded, no control characters that would forge report lines.
absl::Status ValidUploadName(const std::string& name) {
  if (name.size() > kMaxUploadNameBytes)
    return absl::InvalidArgumentError(StrCat("an uploaded file's name is ", name.size(),
                                             " bytes; the limit is ", kMaxUploadNameBytes));
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(
          StrCat("uploaded file name '", absl::CEscape(name), "' has control characters"));
  for (auto part : StrSplit(name, "/"))
    if (part == "." || part == "..")
      return absl::InvalidArgumentError(StrCat("uploaded file name '", absl::CEscape(name),
                                               "' may not have '.' or '..' components"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobPlan> PlanScanJob(const v1::SubmitScanRequest& request,
                                    const std::vector<std::string>& allow_roots,
                                    const BlobVisible& blob_visible) {
  if (request.paths().empty() && request.uploads().empty())
    return absl::InvalidArgumentError("a scan job needs at least one path or uploaded file");
  if (request.policy_toml().size() > kMaxPolicyBytes)
    return absl::InvalidArgumentError(StrCat("the policy is ", request.policy_toml().size(),
                                             " bytes; the limit is ", kMaxPolicyBytes));
  for (const std::string& path : request.paths())
    if (path.size() > kMaxPathBytes)
      return absl::InvalidArgumentError(
          StrCat("a path is ", path.size(), " bytes; the limit is ", kMaxPathBytes));
  for (const v1::UploadedFile& upload : request.uploads())
    if (auto status = ValidUploadName(upload.name()); !status.ok()) return status;

  // Parsed once per distinct policy text and shared by its jobs.
  std::shared_ptr<const Policy> policy = Policy::Shared(request.policy_toml());
  if (!policy) {
    auto parsed = Policy::FromToml(request.policy_toml(), request.policy_name().empty()
                                                              ? "submitted policy"
                                                              : request.policy_name());
    return absl::InvalidArgumentError(StrCat("policy: ", parsed.status().message()));
  }

  // A cluster resolves every path the way a worker will open it, so that a
  // symlink cannot lead a job out of the allowed roots. The embedded
  // coordinator (no roots) runs as the user and keeps paths as they were typed.
  const bool confined = !allow_roots.empty();
  std::vector<std::string> resolved, directories;
  for (const std::string& path : request.paths()) {
    if (confined && (path.empty() || path.front() != '/'))
      return absl::InvalidArgumentError(
          StrCat("path '", path, "' is not absolute; workers resolve paths on their own hosts"));
    std::error_code error;
    std::string canonical = std::filesystem::canonical(path, error).string();
    if (error == std::errc::too_many_symbolic_link_levels)
      return absl::InvalidArgumentError(StrCat("'", path, "' is a symlink loop"));
    if (error) return absl::NotFoundError(StrCat("no such file or directory: ", path));
    resolved.push_back(confined ? canonical : path);
    if (std::filesystem::is_directory(canonical)) directories.push_back(resolved.back());
  }
  auto files = resolved.empty()
                   ? absl::StatusOr<std::vector<std::string>>(std::vector<std::string>())
                   : ExpandScanPaths(resolved);
  if (!files.ok()) return files.status();
  if (confined) {
    for (const std::string& file : *files) {
      std::error_code error;
      std::string real = std::filesystem::canonical(file, error).string();
      // A symlink loop leads nowhere: the worker reports it as one.
      bool allowed = error == std::errc::too_many_symbolic_link_levels;
      for (const std::string& root : allow_roots) allowed |= !error && PathWithin(real, root);
      if (!allowed)
        return absl::PermissionDeniedError(
            StrCat("'", file, "' is outside the roots this cluster may read (",
                   StrJoin(allow_roots, ", "), "); upload it instead"));
    }
  }
  for (const v1::UploadedFile& upload : request.uploads()) {
    BlobDigest digest{upload.digest().sha256(), upload.digest().size_bytes()};
    if (auto status = ValidateDigest(digest); !status.ok()) return status;
    if (!blob_visible(digest))
      return absl::NotFoundError(StrCat("blob ", digest.sha256, "/", digest.size_bytes, " ('",
                                        absl::CEscape(upload.name()),
                                        "') is not in the content store; upload it first"));
  }
  for (const std::string& directory : request.upload_directories()) {
    if (auto status = ValidUploadName(directory); !status.ok()) return status;
    std::string prefix = directory.ends_with('/') ? directory : StrCat(directory, "/");
    bool used = std::any_of(
        request.uploads().begin(), request.uploads().end(),
        [&](const v1::UploadedFile& upload) { return StartsWith(upload.name(), prefix); });
    if (!used)
      return absl::InvalidArgumentError(
          StrCat("upload directory '", absl::CEscape(directory), "' names no uploaded file"));
    directories.push_back(directory);
  }
  JobPlan job{.kind = v1::SCAN,
              .policy_toml = request.policy_toml(),
              .policy_source = request.policy_toml().empty()   ? "built-in"
                               : request.policy_name().empty() ? "submitted policy"
                                                               : request.policy_name(),
              .publisher = request.publisher(),
              .policy = std::move(policy),
              .directories = std::move(directories)};
  for (const std::string& file : *files) job.tasks.push_back({file, file, {}, {}});
  for (const v1::UploadedFile& upload : request.uploads())
    job.tasks.push_back({upload.name().empty() ? upload.digest().sha256() : upload.name(),
                         "",
                         {upload.digest().sha256(), upload.digest().size_bytes()},
                         {}});
  if (job.tasks.empty()) return absl::InvalidArgumentError("the paths hold no files to scan");
  return job;
}

absl::StatusOr<ScanReport> ScanReportOf(JobStore& store, const StoredJob& job) {
  std::shared_ptr<const Policy> policy = Policy::Shared(job.policy_toml);
  if (!policy)
    return absl::DataLossError(StrCat("the stored policy of ", job.public_id, " does not parse"));
  auto results = store.FileResults(job.id);
  if (!results.ok()) return results.status();
  ScanReport report;
  for (const v1::FileResult& result : *results) report.files.push_back(FromProto(result));
  report.tool_version = GAUNTLET_VERSION;
  report.policy_source = job.policy_source;
  report.duration_seconds = job.finished > job.created ? job.finished - job.created : 0;
  std::sort(report.files.begin(), report.files.end(),
            [](const FileReport& a, const FileReport& b) { return a.path < b.path; });
  AggregateModels(job.directories, *policy, job.publisher, report);
  return report;
}

void ScanJobKind::DescribeWork(const PendingTask& task, const std::vector<std::string>& allow_roots,
                               v1::ScanTask& out) const {
  if (!task.path.empty()) {
    out.set_path(task.path);
    for (const std::string& root : allow_roots)
      if (PathWithin(task.path, root)) out.set_root(root);
  } else {
    out.mutable_blob()->set_sha256(task.blob.sha256);
    out.mutable_blob()->set_size_bytes(task.blob.size_bytes);
  }
}

std::vector<BlobDigest> ScanJobKind::Inputs(const BlobDigest& blob, const std::string&) const {
  if (blob.sha256.empty()) return {};
  return {blob};
}

absl::Status ScanJobKind::CheckResult(const PendingTask&, const v1::TaskResult& result) const {
  if (result.has_result()) return absl::OkStatus();
  return absl::InvalidArgumentError("a scan task's result carries no file verdict");
}

absl::StatusOr<v1::Report> ScanJobKind::Report(JobStore& store, const StoredJob& job) const {
  auto scan = ScanReportOf(store, job);
  if (!scan.ok()) return scan.status();
  v1::Report report;
  *report.mutable_scan() = ToProto(*scan);
  report.mutable_scan()->set_unscanned_files(
      job.total_tasks - std::min<uint64_t>(job.total_tasks, scan->files.size()));
  return report;
}

}  // namespace gauntlet
