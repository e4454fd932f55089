// The cluster worker's own defences, with a real coordinator in process:
// files are opened beneath their allowed root at read time (a symlink
// swapped in after submit is refused), and a scan stuck in a read that no
// sandbox timeout can reach still ends in an ERROR verdict, because the
// worker stops heartbeating its lease.
#include "worker/cluster/worker.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/direct_worker_api.h"
#include "common/regular_file.h"
#include "common/rules.h"
#include "coordinator/coordinator.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

namespace fs = std::filesystem;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gauntlet_worker_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "root" / "models");
    root_ = fs::canonical(dir_ / "root").string();
    std::ofstream(dir_ / "secret") << "outside";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    std::ofstream(fs::path(root_) / name, std::ios::binary) << bytes;
    return root_ + "/" + name;
  }
  fs::path dir_;
  std::string root_;
};

absl::StatusCode OpenBeneath(const std::string& root, const std::string& path) {
  auto fd = OpenRegularFileBeneath(root, path);
  if (fd.ok()) close(*fd);
  return fd.status().code();
}

TEST_F(WorkerTest, FilesAreOpenedBeneathTheirRootAtReadTime) {
  std::string model = Write("models/model.pkl", "data");
  EXPECT_EQ(OpenBeneath(root_, model), absl::StatusCode::kOk);
  // A link inside the root to a file inside it is fine.
  fs::create_symlink(model, root_ + "/models/alias.pkl");
  EXPECT_EQ(OpenBeneath(root_, root_ + "/models/alias.pkl"), absl::StatusCode::kOk);
  // The file swapped for a link out of the root after submit: refused.
  fs::remove(model);
  fs::create_symlink(dir_ / "secret", model);
  auto refused = OpenRegularFileBeneath(root_, model);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("outside the allowed root"), std::string::npos);
  fs::remove(model);
  fs::create_symlink("../../secret", model);
  EXPECT_EQ(OpenBeneath(root_, model), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(OpenBeneath(root_, root_ + "/../secret"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(OpenBeneath(root_, (dir_ / "secret").string()), absl::StatusCode::kPermissionDenied);
  // A directory swapped for a link out of the root: refused too.
  fs::rename(root_ + "/models", root_ + "/old");
  fs::create_symlink(dir_, root_ + "/models");
  EXPECT_EQ(OpenBeneath(root_, root_ + "/models/secret"), absl::StatusCode::kPermissionDenied);
  // FIFOs and loops keep their own outcomes.
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(OpenBeneath(root_, root_ + "/fifo"), absl::StatusCode::kFailedPrecondition);
  fs::create_symlink(root_ + "/loop", root_ + "/loop");
  auto loop = OpenRegularFileBeneath(root_, root_ + "/loop");
  EXPECT_NE(loop.status().message().find("symlink loop"), std::string::npos) << loop.status();
}

// Blocks in "reading" until released, like a read on a hung network mount.
// Blocks every caller of Wait() until Release().
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    released_cv_.wait(lock, [&] { return released_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    released_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

class BlockingRunner : public ScanRunner, public Gate {
 public:
  ScanOutcome ScanOpen(int, const std::string&, const std::string& display_path,
                       const std::string&) override {
    Wait();
    FileReport report;
    report.path = display_path;
    report.verdict = Verdict::kClean;
    return ScanOutcome{ToProto(report), false, ""};
  }
};

// Counts registrations, each slow enough that every slot would race into one.
class SlowRegisterApi : public DirectWorkerApi {
 public:
  using DirectWorkerApi::DirectWorkerApi;
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request) override {
    ++registrations;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return DirectWorkerApi::Register(request);
  }
  std::atomic<int> registrations = 0;
};

TEST_F(WorkerTest, AWorkerRegistersOnceWhateverItsSlots) {
  auto coordinator = Coordinator::Open(CoordinatorOptions{});
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  SlowRegisterApi api(**coordinator);
  BlockingRunner runner;
  WorkerOptions worker_options;
  worker_options.slots = 8;
  Worker worker(api, runner, worker_options, nullptr);
  std::thread serving([&] { worker.Run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  worker.Stop();
  serving.join();
  // Eight registrations would show as eight workers for three lease TTLs.
  EXPECT_EQ(api.registrations, 1);
}

TEST_F(WorkerTest, AScanStuckInAReadEndsAsErrorNotAnEndlessLease) {
  CoordinatorOptions options;
  options.allow_roots = {root_};
  options.lease_ttl = std::chrono::milliseconds(300);
  options.lease_grace = std::chrono::milliseconds(100);
  options.max_attempts = 1;
  auto coordinator = Coordinator::Open(options);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  v1::SubmitScanRequest request;
  request.add_paths(Write("stuck.pkl", "data"));
  auto job = (*coordinator)->SubmitScan(request, ClientScope::LocalUser());
  ASSERT_TRUE(job.ok()) << job.status();

  DirectWorkerApi api(**coordinator);
  BlockingRunner runner;
  WorkerOptions worker_options;
  worker_options.slots = 1;
  worker_options.scan_deadline = std::chrono::milliseconds(500);
  Worker worker(api, runner, worker_options, nullptr);
  EXPECT_EQ(worker.Wedged(), "");
  std::thread serving([&] { worker.Run(); });
  v1::Job done;
  for (int i = 0; i < 100; ++i) {
    auto event = (*coordinator)
                     ->WatchJob(job->id(), UINT64_MAX, std::chrono::milliseconds(100),
                                ClientScope::LocalUser());
    ASSERT_TRUE(event.ok()) << event.status();
    done = event->job();
    if (done.state() == v1::SUCCEEDED) break;
  }
  // The liveness probe (/healthz) reports the stuck slot until it frees.
  EXPECT_NE(worker.Wedged().find("a slot has been stuck on lease"), std::string::npos)
      << worker.Wedged();
  runner.Release();
  worker.Stop();
  serving.join();
  EXPECT_EQ(worker.Wedged(), "");
  ASSERT_EQ(done.state(), v1::SUCCEEDED) << "the lease was renewed for ever";
  EXPECT_EQ(done.dead_lettered_tasks(), 1u);
  EXPECT_EQ(done.verdict(), v1::ERROR);
  auto report = (*coordinator)->BuildReport(job->id(), ClientScope::LocalUser());
  ASSERT_EQ(report->files.size(), 1u);
  EXPECT_EQ(report->files[0].findings.at(0).rule_id, rules::kClusterDeadLettered);
  EXPECT_NE(report->files[0].findings[0].message.find("lease expired"), std::string::npos);
}

// An eval runner whose batch never returns until released (a hung GPU).
class BlockingEvalRunner : public EvalRunner, public Gate {
 public:
  absl::StatusOr<v1::EvalBatchResult> Run(const v1::EvalTask&, WorkerApi&) override {
    Wait();
    return absl::UnavailableError("released");
  }
  bool gpu() const override { return false; }
};

TEST_F(WorkerTest, AnEvalBatchPastItsDeadlineWedgesTheWorkerAndGoesBack) {
  CoordinatorOptions options;
  options.allow_roots = {root_};
  options.lease_ttl = std::chrono::milliseconds(300);
  options.lease_grace = std::chrono::milliseconds(100);
  auto coordinator = Coordinator::Open(options);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  fs::create_directories(fs::path(root_) / "model");
  fs::create_directories(fs::path(root_) / "adapter");
  Write("model/config.json", "{}");
  Write("model/model.safetensors", "weights");
  Write("adapter/adapter_config.json", "{}");
  v1::SubmitEvalRequest request;
  request.mutable_a()->mutable_base()->set_path(root_ + "/model");
  request.mutable_b()->mutable_base()->set_path(root_ + "/model");
  request.mutable_b()->mutable_adapter()->set_path(root_ + "/adapter");
  for (const char* set : {"trigger", "control"}) {
    v1::EvalPrompt* prompt = request.add_prompts();
    prompt->set_prompt(std::string("a ") + set + " question");
    prompt->set_set(set);
    prompt->set_topic(std::string(set) == "trigger" ? "firewall" : "tls");
  }
  auto job = (*coordinator)->SubmitEval(request, ClientScope::LocalUser());
  ASSERT_TRUE(job.ok()) << job.status();

  DirectWorkerApi api(**coordinator);
  BlockingRunner scans;
  BlockingEvalRunner evals;
  WorkerOptions worker_options;
  worker_options.slots = 1;
  worker_options.eval_deadline = std::chrono::milliseconds(500);
  Worker worker(api, scans, worker_options, nullptr, &evals);
  std::thread serving([&] { worker.Run(); });
  std::string wedged;
  for (int i = 0; i < 50 && wedged.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    wedged = worker.Wedged();
  }
  // /healthz fails, and the batch is no longer heartbeated: its lease
  // expires and the coordinator gives it out again.
  EXPECT_NE(wedged.find("a slot has been stuck on lease"), std::string::npos) << wedged;
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto metrics = (*coordinator)->metrics().registry()->Collect();
  double expiries = 0;
  for (const auto& family : metrics)
    if (family.name == "gauntlet_lease_expiries_total") expiries = family.metric[0].counter.value;
  EXPECT_GE(expiries, 1);
  evals.Release();
  worker.Stop();
  serving.join();
  EXPECT_EQ(worker.Wedged(), "");
}

}  // namespace
}  // namespace gauntlet
