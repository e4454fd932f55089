// Shared by the libFuzzer targets: runs one scanner (or one parser entry
// point) over the fuzzer's bytes with the built-in policy, nested members
// going through every scanner as in a real scan. Timeouts and limits are
// findings, not crashes: the fuzzer looks for crashes, hangs, leaks and
// undefined behaviour.
#ifndef GAUNTLET_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define GAUNTLET_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/policy.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/scanner_registry.h"

namespace gauntlet::fuzz {

inline std::string_view Bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A policy with small limits, so one input costs milliseconds, not the
// production gigabyte and minute.
inline const Policy& FuzzPolicy() {
  static const Policy* policy = [] {
    auto parsed = Policy::FromToml(
        "[limits]\nmax_decompressed_bytes = 8388608\nmax_pickle_opcodes = 200000\n"
        "max_archive_members = 2000\ntimeout_seconds = 5.0\n",
        "fuzz");
    if (!parsed.ok()) __builtin_trap();
    return new Policy(std::move(*parsed));
  }();
  return *policy;
}

// Nested members go through every scanner, except the third-party parsers
// (libhdf5, libarchive), which only ever run in the parser sandbox.
class FuzzContext : public scan::ScanContext {
 public:
  FuzzContext() : ScanContext(FuzzPolicy(), scan::DefaultScanners(), "fuzz-input") {
    ForbidUnhardenedParsers();
  }
};

template <typename ScannerT>
void ScanWith(std::string_view content) {
  FuzzContext ctx;
  ScannerT().Scan(content, ctx);
  ctx.TakeFindings();
}

}  // namespace gauntlet::fuzz

#endif  // GAUNTLET_TESTS_FUZZ_FUZZ_SUPPORT_H_
