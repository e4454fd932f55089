// Fuzz-style robustness: every prefix and many bit-flipped variants of each
// binary fixture must scan without crashing, and a truncated file must never
// come back CLEAN.
#include <gtest/gtest.h>

#include <random>

#include "common/format.h"
#include "tests/support/archive_builder.h"
#include "tests/support/gguf_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/proto_writer.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

using testing::PickleBuilder;

struct Fixture {
  std::string name;
  std::string bytes;
};

std::string OnnxModel() {
  testing::ProtoWriter node;
  node.Bytes(1, "x").Bytes(2, "y").Bytes(4, "Relu");
  testing::ProtoWriter model;
  model.Varint(1, 8).Message(7, testing::ProtoWriter().Message(1, node));
  model.Message(8, testing::ProtoWriter().Bytes(1, "").Varint(2, 17));
  return model.str();
}

std::vector<Fixture> Fixtures() {
  std::string body = PickleBuilder()
                         .EmptyDict()
                         .Memoize()
                         .Unicode("w")
                         .Global("collections", "OrderedDict")
                         .EmptyTuple()
                         .Reduce()
                         .SetItem()
                         .Stop()
                         .bytes();
  std::string benign = PickleBuilder().Proto(4).Frame(body.size()).Raw(body).bytes();
  std::string evil = testing::OsSystemPickle();
  std::string torch_zip = testing::BuildZip({{"archive/data.pkl", benign},
                                             {"archive/data/0", std::string(256, '\x01')},
                                             {"archive/version", "3\n"}});
  std::string npy = testing::BuildNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (16,), }",
                                      std::string(64, '\x02'));
  std::string tar = testing::BuildTar({{"m/model.pkl", benign}, {"m/evil.pkl", evil}});
  return {
      {"benign.pkl", benign},
      {"evil.pkl", evil},
      {"model.pt", torch_zip},
      {"deflated.pt", testing::BuildZip({{"archive/data.pkl", benign, true}})},
      {"array.npy", npy},
      {"model.safetensors",
       testing::BuildSafetensors(
           R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
           16)},
      {"bundle.tar", tar},
      {"model.pkl.gz", testing::GzipCompress(benign)},
      {"model.pkl.bz2", testing::Bzip2Compress(benign)},
      {"model.pt.xz", testing::XzCompress(torch_zip)},
      {"model.pkl.zst", testing::ZstdCompress(benign)},
      {"model.gguf",
       testing::GgufBuilder()
           .String("general.architecture", "llama")
           .String("tokenizer.chat_template", "{% for m in messages %}{{ m }}{% endfor %}")
           .F32Tensor("w", 8, 0)
           .Build(32)},
      {"model.onnx", OnnxModel()},
      {"bundle.7z", testing::BuildSevenZip({{"m/model.pkl", benign}, {"m/config.json", "{}"}})},
      {"model.keras",
       testing::BuildZip(
           {{"metadata.json", "{}"},
            {"config.json", R"({"module":"keras","class_name":"Sequential","config":{}})"}})},
  };
}

TEST(Robustness, EveryTruncationScansAndIsNeverClean) {
  for (const Fixture& fixture : Fixtures()) {
    FileReport whole = scan::ScanBytes(fixture.name, fixture.bytes, Policy::Default());
    ASSERT_TRUE(whole.fully_analysed) << fixture.name << ": " << testing::Describe(whole);
    // A prefix too short to keep the magic bytes is a different (often
    // text) file; every prefix that still sniffs as the format must fail.
    Format format = SniffFormat(fixture.bytes);
    for (size_t cut = 1; cut < fixture.bytes.size(); ++cut) {
      std::string prefix = fixture.bytes.substr(0, cut);
      if (SniffFormat(prefix) != format) continue;
      FileReport report = scan::ScanBytes(fixture.name, prefix, Policy::Default());
      EXPECT_NE(report.verdict, Verdict::kClean)
          << fixture.name << " cut at " << cut << ": " << testing::Describe(report);
    }
  }
}

TEST(Robustness, RandomBitFlipsScanToAVerdict) {
  std::mt19937 rng(1234);
  for (const Fixture& fixture : Fixtures()) {
    for (int trial = 0; trial < 300; ++trial) {
      std::string mutated = fixture.bytes;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        mutated[rng() % mutated.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
      FileReport report = scan::ScanBytes(fixture.name, mutated, Policy::Default());
      EXPECT_FALSE(report.format.empty()) << fixture.name;
    }
  }
}

TEST(Robustness, RandomBytesBehindEveryMagicScanToAVerdict) {
  // Every sniffed format's scanner gets hostile garbage after a valid magic;
  // under the sanitizer build this is where memory errors would surface.
  const std::string magics[] = {
      std::string("PK\x03\x04", 4),
      "\x1f\x8b\x08",
      "BZh9",
      std::string("\xfd"
                  "7zXZ\x00",
                  6),
      "\x28\xb5\x2f\xfd",
      "7z\xbc\xaf\x27\x1c",
      "Rar!\x1a\x07",
      "\x93NUMPY\x01",
      "GGUF\x03",
      "\x89HDF\r\n\x1a\n",
      std::string("\x80\x04\x95", 3),
      std::string("\x80\x02}", 3),
      "\x08\x07\x12",
      std::string("\x08\x01\x12", 3),
      "\x0a\x10\x0a\x02"
      "ab"
      "\x12",
      "\x0a\x10\x0a\x02"
      "ab"
      "\x15",
      "\x0a\x10\x08\x01\x12",
      "\x81\xa1k",
      "\x89PNG\r\n\x1a\n",
      std::string("\x20\x00\x00\x00\x00\x00\x00\x00{\"", 10),
      "x\x9c",
  };
  std::mt19937 rng(99);
  for (const std::string& magic : magics) {
    for (int trial = 0; trial < 150; ++trial) {
      std::string data = magic;
      size_t tail = rng() % 700;
      for (size_t i = 0; i < tail; ++i) data.push_back(static_cast<char>(rng() & 0xff));
      FileReport report = scan::ScanBytes("fuzz.bin", data, Policy::Default());
      EXPECT_FALSE(report.format.empty());
    }
  }
}

TEST(Robustness, NoSingleBitFlipTurnsAPayloadClean) {
  std::string evil = testing::OsSystemPickle();
  const Fixture payloads[] = {
      {"evil.pkl", evil},
      {"evil.pt", testing::BuildZip({{"archive/data.pkl", evil}})},
      {"evil.tar", testing::BuildTar({{"evil.pkl", evil}})},
  };
  for (const Fixture& fixture : payloads) {
    for (size_t byte = 0; byte < fixture.bytes.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string mutated = fixture.bytes;
        mutated[byte] ^= static_cast<char>(1 << bit);
        FileReport report = scan::ScanBytes(fixture.name, mutated, Policy::Default());
        EXPECT_NE(report.verdict, Verdict::kClean) << fixture.name << " byte " << byte << " bit "
                                                   << bit << ": " << testing::Describe(report);
      }
    }
  }
}

}  // namespace
}  // namespace gauntlet
