// Pickle analysis throughput (MB/s) and whole-file scan cost for the shapes
// real checkpoints have: a torch state_dict pickle with thousands of tensors,
// and a sklearn-style pickle with large inline arrays.
#include <benchmark/benchmark.h>

#include "common/policy.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "worker/scan/file_scanner.h"
#include "worker/scan/pickle_machine.h"

namespace gauntlet {
namespace {

using testing::PickleBuilder;

// Mirrors torch.save's data.pkl: an OrderedDict of _rebuild_tensor_v2 calls
// with persistent-id storages, memoized like the real pickler does.
std::string StateDictPickle(int tensors) {
  PickleBuilder p;
  p.Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().BinPut(0).Mark();
  for (int i = 0; i < tensors; ++i) {
    p.Unicode("model.layers." + std::to_string(i) + ".self_attn.q_proj.weight");
    p.Global("torch._utils", "_rebuild_tensor_v2").Mark();
    p.Mark()
        .Unicode("storage")
        .Global("torch", "FloatStorage")
        .Unicode(std::to_string(i))
        .Unicode("cpu")
        .Int(4096)
        .Tuple()
        .Op('Q');
    p.Int(0)
        .Int(64)
        .Int(64)
        .Tuple2()
        .Int(64)
        .Int(1)
        .Tuple2()
        .Op(0x89)
        .Global("collections", "OrderedDict")
        .EmptyTuple()
        .Reduce()
        .Tuple()
        .Reduce();
  }
  p.Op('u').Stop();
  return p.bytes();
}

std::string InlineArrayPickle(int arrays, int bytes_each) {
  PickleBuilder p;
  p.Proto(4).EmptyList();
  for (int i = 0; i < arrays; ++i) {
    p.Global("numpy.core.multiarray", "_reconstruct")
        .Global("numpy", "ndarray")
        .Int(0)
        .Tuple1()
        .Bytes("b")
        .Op(0x87)
        .Reduce()
        .Mark()
        .Int(1)
        .Int(bytes_each / 8)
        .Tuple1()
        .Global("numpy", "dtype")
        .Unicode("f8")
        .Op(0x89)
        .Op(0x88)
        .Op(0x87)
        .Reduce()
        .Op(0x89)
        .Bytes(std::string(static_cast<size_t>(bytes_each), '\x01'))
        .Tuple()
        .Build()
        .Append();
  }
  p.Stop();
  return p.bytes();
}

void RunAnalysis(benchmark::State& state, const std::string& pickle) {
  const ScanLimits& limits = Policy::Default().limits();
  auto check = scan::AnalyzePickle(pickle, 0, limits,
                                   std::chrono::steady_clock::now() + std::chrono::hours(1));
  if (check.stop) {
    state.SkipWithError(check.stop->message.c_str());
    return;
  }
  for (auto _ : state) {
    auto result = scan::AnalyzePickle(pickle, 0, limits,
                                      std::chrono::steady_clock::now() + std::chrono::hours(1));
    benchmark::DoNotOptimize(result.imports.size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * pickle.size()));
}

void BM_AnalyzeStateDictPickle(benchmark::State& state) {
  RunAnalysis(state, StateDictPickle(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_AnalyzeStateDictPickle)->Arg(100)->Arg(5000);

void BM_AnalyzeInlineArrayPickle(benchmark::State& state) {
  RunAnalysis(state, InlineArrayPickle(64, static_cast<int>(state.range(0))));
}
BENCHMARK(BM_AnalyzeInlineArrayPickle)->Arg(4096)->Arg(1 << 20);

// The whole pipeline on a small torch-style zip: sniff, zip, pickle, policy.
void BM_ScanSmallTorchZip(benchmark::State& state) {
  std::string zip = testing::BuildZip({{"archive/data.pkl", StateDictPickle(8)},
                                       {"archive/data/0", std::string(4096, '\x01')},
                                       {"archive/version", "3\n"}});
  for (auto _ : state) {
    FileReport report = scan::ScanBytes("model.pt", zip, Policy::Default());
    benchmark::DoNotOptimize(report.verdict);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ScanSmallTorchZip);

}  // namespace
}  // namespace gauntlet

BENCHMARK_MAIN();
