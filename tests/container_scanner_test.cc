// Container tricks: every zip lie, nested archives, tar bundles, compression
// wrappers, NumPy object arrays and legacy torch, each built in code.
#include <gtest/gtest.h>

#include <thread>

#include "common/rules.h"
#include "common/strings.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/decompression_budget.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

using testing::BuildZip;
using testing::Describe;
using testing::FindFinding;
using testing::HasFinding;
using testing::PickleBuilder;
using testing::ZipMember;

std::string EvilPickle() { return testing::OsSystemPickle("touch /tmp/pwned"); }
using testing::BenignPickle;

FileReport Scan(const std::string& bytes, std::string_view name = "model.pt",
                const Policy& policy = Policy::Default()) {
  return testing::ScanFixture(bytes, name, policy);
}

void ExpectPayloadFound(const FileReport& report, std::string_view member_part) {
  ASSERT_TRUE(HasFinding(report, rules::kDangerousGlobal, Severity::kCritical, Verdict::kMalicious,
                         "os.system"));
  const Finding* f = FindFinding(report, rules::kDangerousGlobal, "os.system");
  EXPECT_NE(f->location.member.find(member_part), std::string::npos) << f->location.member;
}

TEST(ZipScanner, TorchLayoutWithPayloadInDataPkl) {
  auto zip = BuildZip({{"archive/data.pkl", EvilPickle()},
                       {"archive/data/0", std::string(64, '\x3f')},
                       {"archive/version", "3\n"}});
  auto report = Scan(zip);
  EXPECT_EQ(report.format, "pytorch-zip");
  ExpectPayloadFound(report, "archive/data.pkl");
}

TEST(ZipScanner, BenignTorchLayoutIsClean) {
  auto zip = BuildZip({{"archive/data.pkl", BenignPickle()},
                       {"archive/data/0", std::string(4096, '\0')},
                       {"archive/version", "3\n"}});
  auto report = Scan(zip);
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
}

TEST(ZipScanner, FlagBitsThatPythonZipfileRefuses) {
  for (uint16_t flag : {0x01, 0x20, 0x40}) {
    ZipMember member{"archive/data.pkl", EvilPickle()};
    member.extra_flags = flag;
    auto report = Scan(BuildZip({member}));
    SCOPED_TRACE(flag);
    EXPECT_NE(FindFinding(report, rules::kZipSuspiciousFlags), nullptr) << Describe(report);
    ExpectPayloadFound(report, "data.pkl");
  }
}

TEST(ZipScanner, LocalNameDiffersFromCentralName) {
  ZipMember member{"archive/data.pkl", EvilPickle()};
  member.local_name = "archive/innocent.txt";
  auto report = Scan(BuildZip({member}));
  EXPECT_NE(FindFinding(report, rules::kZipNameMismatch, "innocent.txt"), nullptr)
      << Describe(report);
  ExpectPayloadFound(report, "data.pkl");
}

TEST(ZipScanner, BadCrcIsReportedAndMemberStillScanned) {
  ZipMember member{"archive/data.pkl", EvilPickle()};
  member.corrupt_crc = true;
  auto report = Scan(BuildZip({member}));
  EXPECT_NE(FindFinding(report, rules::kZipBadCrc), nullptr) << Describe(report);
  ExpectPayloadFound(report, "data.pkl");
}

TEST(ZipScanner, PickleMemberNotNamedPkl) {
  auto report = Scan(BuildZip({{"archive/weights.bin", EvilPickle(), /*deflate=*/true}}), "m.zip");
  ExpectPayloadFound(report, "weights.bin");
}

TEST(ZipScanner, PickleSmuggledIntoATensorStorageSlot) {
  auto zip = BuildZip({{"archive/data.pkl", BenignPickle()}, {"archive/data/0", EvilPickle()}});
  ExpectPayloadFound(Scan(zip), "archive/data/0");
}

TEST(ZipScanner, TensorBytesThatLookLikeAPickleOrGzipAreStillTensorData) {
  // float data can begin with PROTO and an opener, or 1f 8b, by chance: seen
  // in real torch.save files about once per 100,000 tensors.
  std::string fake_pickle = std::string("\x80\x02]", 3) + std::string(61, '\xb7');
  std::string fake_gzip = std::string("\x1f\x8b\x08\x00", 4) + std::string(60, '\xee');
  std::string fake_zlib = std::string("\x78\x9c", 2) + std::string(62, '\xfe');
  auto zip = BuildZip({{"archive/data.pkl", BenignPickle()},
                       {"archive/data/0", fake_pickle},
                       {"archive/data/1", fake_gzip},
                       {"archive/data/2", fake_zlib}});
  auto report = Scan(zip);
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
}

TEST(ZipScanner, GzipSmuggledIntoATensorStorageSlot) {
  auto zip = BuildZip({{"archive/data.pkl", BenignPickle()},
                       {"archive/data/0", testing::GzipCompress(EvilPickle())}});
  ExpectPayloadFound(Scan(zip), "archive/data/0!/<gzip>");
}

TEST(ZipScanner, TensorBytesWithWeakSignaturesAreData) {
  // Random weights start like a msgpack map, an ONNX model, a zlib stream, a
  // pickle that never finishes or a zip without a directory often enough to
  // meet in a registry: torch never parses storages, so none is a finding.
  std::string pickle_start = std::string("\x80\x02}q\x00(X\x05\x00", 9) + std::string(64, '\x3f');
  for (const std::string& storage :
       {std::string("\x83\xa4name\x01\x02") + std::string(64, '\x11'),
        std::string("\x08\x07\x12\x04") + std::string(64, '\x22'),
        std::string("\x78\x9c\x01\x02") + std::string(64, '\x33'), pickle_start,
        std::string("PK\x03\x04") + std::string(64, '\x44'),
        std::string("\x1f\x8b\x08\x00") + std::string(64, '\x55')}) {
    auto zip = BuildZip({{"archive/data.pkl", BenignPickle()}, {"archive/data/0", storage}});
    auto report = Scan(zip);
    EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  }
}

TEST(PickleScanner, BytesConstantsAreDataUnlessAStrongPayload) {
  // Array bytes inside a pickle (numpy's _reconstruct state): a weak
  // signature is data, a complete pickle that imports something is scanned.
  auto with_bytes = [](const std::string& bytes) {
    return testing::PickleBuilder()
        .Proto(2)
        .Global("numpy.core.multiarray", "_reconstruct")
        .EmptyTuple()
        .Reduce()
        .Bytes(bytes)
        .Build()
        .Stop()
        .bytes();
  };
  auto weak = Scan(with_bytes(std::string("\x83\xa4name") + std::string(64, '\x01')), "a.pkl");
  EXPECT_EQ(weak.verdict, Verdict::kClean) << Describe(weak);
  auto strong = Scan(with_bytes(EvilPickle()), "a.pkl");
  ExpectPayloadFound(strong, "<embedded@");
}

TEST(ZipScanner, EntryHiddenFromTheCentralDirectory) {
  ZipMember hidden{"archive/extra.pkl", EvilPickle()};
  hidden.in_central_directory = false;
  auto report = Scan(BuildZip({{"archive/data.pkl", BenignPickle()}, hidden}));
  EXPECT_NE(FindFinding(report, rules::kZipHiddenEntry, "extra.pkl"), nullptr) << Describe(report);
  ExpectPayloadFound(report, "extra.pkl");
}

TEST(ZipScanner, MissingCentralDirectoryFallsBackToLocalHeaders) {
  auto report = Scan(BuildZip({{"archive/data.pkl", EvilPickle()}}, {}, /*with_directory=*/false));
  EXPECT_NE(FindFinding(report, rules::kZipNoCentralDirectory), nullptr) << Describe(report);
  ExpectPayloadFound(report, "data.pkl");
}

TEST(ZipScanner, DataPrependedBeforeTheArchive) {
  auto report =
      Scan(BuildZip({{"archive/data.pkl", EvilPickle()}}, "#!/bin/sh\nexit 0\n"), "m.zip");
  EXPECT_NE(FindFinding(report, rules::kZipPrefixedData), nullptr) << Describe(report);
}

TEST(ZipScanner, NestedZipInsideZip) {
  auto inner = BuildZip({{"archive/data.pkl", EvilPickle()}});
  auto outer = BuildZip({{"bundle/model.pt", inner, /*deflate=*/true}});
  ExpectPayloadFound(Scan(outer, "bundle.zip"), "bundle/model.pt!/archive/data.pkl");
}

TEST(ZipScanner, ZipSlipNamesAreHigh) {
  auto report = Scan(BuildZip({{"../../etc/cron.d/evil", "* * * * * root id\n"}}), "x.zip");
  const Finding* f = FindFinding(report, rules::kArchivePathTraversal);
  ASSERT_NE(f, nullptr) << Describe(report);
  EXPECT_EQ(f->severity, Severity::kHigh);
}

TEST(ZipScanner, EncryptedMemberIsNotAnalysedAndNotClean) {
  ZipMember member{"secret.bin",
                   std::string("\x13\x57\x9b\xdf\x02\x46\x8a\xce", 8) + std::string(200, '\x91')};
  member.extra_flags = 0x01;
  auto report = Scan(BuildZip({member}), "x.zip");
  EXPECT_NE(FindFinding(report, rules::kZipEncrypted), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(ZipScanner, ZipBombHitsTheExpansionLimit) {
  auto policy = Policy::FromToml("[limits]\nmax_decompressed_bytes = 1048576\n", "test");
  ASSERT_TRUE(policy.ok());
  auto zip = BuildZip({{"archive/data.pkl", std::string(8 << 20, 'A'), /*deflate=*/true}});
  auto report = Scan(zip, "bomb.zip", *policy);
  EXPECT_NE(FindFinding(report, rules::kLimitExceeded), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(ZipScanner, NpzWithObjectArrayMember) {
  auto npy =
      testing::BuildNpy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", EvilPickle());
  auto report = Scan(BuildZip({{"arr_0.npy", npy}}), "arrays.npz");
  EXPECT_EQ(report.format, "numpy-npz");
  EXPECT_NE(FindFinding(report, rules::kNumpyObjectArray), nullptr) << Describe(report);
  ExpectPayloadFound(report, "arr_0.npy!/<object array pickle>");
}

TEST(ZipScanner, TorchScriptArchiveScansItsConstants) {
  auto zip = BuildZip({{"model/code/__torch__/m.py", "def forward(self): pass\n"},
                       {"model/constants.pkl", EvilPickle()},
                       {"model/data.pkl", BenignPickle()}});
  auto report = Scan(zip);
  EXPECT_EQ(report.format, "torchscript");
  EXPECT_NE(FindFinding(report, rules::kTorchScript), nullptr);
  ExpectPayloadFound(report, "constants.pkl");
}

TEST(NumpyScanner, NumericArrayIsCleanAndDataIsNotParsed) {
  // The payload bytes are a pickle, but a numeric .npy never unpickles them.
  auto npy =
      testing::BuildNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", EvilPickle());
  auto report = Scan(npy, "x.npy");
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
}

TEST(NumpyScanner, StructuredDtypeWithObjectField) {
  auto npy = testing::BuildNpy(
      "{'descr': [('a', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }",
      EvilPickle());
  ExpectPayloadFound(Scan(npy, "x.npy"), "<object array pickle>");
}

TEST(NumpyScanner, EveryObjectDtypeSpellingNumpyAcceptsIsUnpickled) {
  // Each of these is a dtype np.load(allow_pickle=True) builds with objects.
  for (std::string_view descr : {"'|O'",
                                 "'O'",
                                 "'<O'",
                                 "'>O'",
                                 "'=O'",
                                 "'O8'",
                                 "'O4'",
                                 "'|O8'",
                                 "'object'",
                                 "'object_'",
                                 "'object0'",
                                 "\"O\"",
                                 "'i4,O'",
                                 "'i4, object'",
                                 "'3O'",
                                 "'(2,3)|O8'",
                                 "('O', (2,))",
                                 "[('a', '<i4'), ('b', [('c', 'object')])]",
                                 "[(('title', 'n'), '|O')]",
                                 "[('x', ('O', (2,)))]",
                                 "[('a', '<f4', (2,)), ('b', 'O8')]"}) {
    SCOPED_TRACE(descr);
    auto npy = testing::BuildNpy(
        StrCat("{'descr': ", descr, ", 'fortran_order': False, 'shape': (1,), }"), EvilPickle());
    auto report = Scan(npy, "x.npy");
    EXPECT_NE(FindFinding(report, rules::kNumpyObjectArray), nullptr) << Describe(report);
    ExpectPayloadFound(report, "<object array pickle>");
  }
}

TEST(NumpyScanner, FieldNamedLikeAnObjectCodeIsNotAnObjectArray) {
  std::string body(16, '\x01');
  for (std::string_view descr : {"[('O', '<f8'), ('object', '<i8')]", "'<f8'", "'|S8'", "'<U2'",
                                 "'<M8[ns]'", "[('a', [('O', '<f8')])]"}) {
    SCOPED_TRACE(descr);
    auto npy = testing::BuildNpy(
        StrCat("{'descr': ", descr, ", 'fortran_order': False, 'shape': (1,), }"), body);
    auto report = Scan(npy, "x.npy");
    EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
    EXPECT_EQ(FindFinding(report, rules::kNumpyObjectArray), nullptr) << Describe(report);
  }
}

TEST(NumpyScanner, HeaderThatIsNoPythonLiteralIsAnError) {
  for (std::string_view header :
       {"{'descr': __import__('os'), 'shape': (1,)}", "{'descr': '<f8', 'shape': (1,", "[1, 2]",
        "{'shape': (1,)}", "{'descr': '<f8', 'shape': ('a',)}"}) {
    SCOPED_TRACE(header);
    auto report = Scan(testing::BuildNpy(header, std::string(8, '\0')), "x.npy");
    EXPECT_EQ(report.verdict, Verdict::kError) << Describe(report);
  }
}

TEST(NumpyScanner, TruncatedHeaderIsAnError) {
  auto report = Scan(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "x.npy");
  EXPECT_EQ(report.verdict, Verdict::kError) << Describe(report);
}

TEST(CompressedScanner, EveryWrapperAroundAPickle) {
  const std::pair<std::string, std::string> wrapped[] = {
      {"gzip", testing::GzipCompress(EvilPickle())},
      {"zlib", testing::ZlibCompress(EvilPickle())},
      {"bzip2", testing::Bzip2Compress(EvilPickle())},
      {"xz", testing::XzCompress(EvilPickle())},
      {"zstd", testing::ZstdCompress(EvilPickle())},
  };
  for (const auto& [codec, bytes] : wrapped) {
    SCOPED_TRACE(codec);
    auto report = Scan(bytes, "model.bin");
    EXPECT_EQ(report.format, codec);
    ExpectPayloadFound(report, "<" + codec + ">");
  }
}

TEST(CompressedScanner, WrapperAroundTorchZip) {
  auto zip = BuildZip({{"archive/data.pkl", EvilPickle()}});
  ExpectPayloadFound(Scan(testing::XzCompress(zip), "model.pt.xz"), "<xz>!/archive/data.pkl");
}

TEST(CompressedScanner, TruncatedStreamIsAnError) {
  auto gz = testing::GzipCompress(std::string(10000, 'x') + EvilPickle());
  auto report = Scan(gz.substr(0, gz.size() / 2), "m.gz");
  EXPECT_NE(FindFinding(report, rules::kArchiveMalformed), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(CompressedScanner, DecompressionBombIsALimitNotAPass) {
  auto policy = Policy::FromToml("[limits]\nmax_decompressed_bytes = 65536\n", "test");
  ASSERT_TRUE(policy.ok());
  auto report = Scan(testing::GzipCompress(std::string(1 << 22, '\0')), "bomb.gz", *policy);
  EXPECT_NE(FindFinding(report, rules::kLimitExceeded), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(CompressedScanner, NestedStreamsShareOneDecompressionBudget) {
  // Each level alone fits the 1 MiB cap; together they do not.
  auto policy = Policy::FromToml("[limits]\nmax_decompressed_bytes = 1048576\n", "test");
  ASSERT_TRUE(policy.ok());
  std::string inner = testing::GzipCompress(std::string(700 << 10, 'a'));
  auto tar = testing::BuildTar({{"inner.gz", inner}, {"pad.bin", std::string(600 << 10, '\0')}});
  auto report = Scan(testing::GzipCompress(tar), "nested.tar.gz", *policy);
  EXPECT_NE(FindFinding(report, rules::kLimitExceeded), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(DecompressionBudget, ConcurrentScansShareOneBudgetAndEachStillPasses) {
  // Four healthy files, each decompressing to 3/4 of the cap, scanned at
  // once: together they may never hold more than the cap, and none may come
  // back with a limit it did not reach on its own (it waits instead).
  auto policy = Policy::FromToml("[limits]\nmax_decompressed_bytes = 33554432\n", "test");
  ASSERT_TRUE(policy.ok());
  std::string text;
  while (text.size() < (24u << 20)) text += "a line of a healthy text file\n";
  std::string gz = testing::GzipCompress(text);
  std::vector<FileReport> reports(4);
  std::vector<std::thread> threads;
  for (FileReport& report : reports) {
    threads.emplace_back([&] { report = Scan(gz, "zeros.gz", *policy); });
  }
  for (std::thread& t : threads) t.join();
  for (const FileReport& report : reports) {
    EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  }
  EXPECT_LE(scan::ProcessDecompressionBudget::Get().peak(), uint64_t{32} << 20);
}

TEST(TarScanner, TarGzBundleWithTorchCheckpoint) {
  auto tar = testing::BuildTar(
      {{"model/README.md", "# card\n"},
       {"model/pytorch_model.bin", BuildZip({{"archive/data.pkl", EvilPickle()}})}});
  auto report = Scan(testing::GzipCompress(tar), "model.tar.gz");
  ExpectPayloadFound(report, "<gzip>!/model/pytorch_model.bin!/archive/data.pkl");
}

TEST(TarScanner, LinksAndEscapingNames) {
  auto tar = testing::BuildTar(
      {{"model/link", "", '2', "/etc/passwd"}, {"../outside.pkl", BenignPickle()}});
  auto report = Scan(tar, "bundle.tar");
  const Finding* link = FindFinding(report, rules::kArchivePathTraversal, "/etc/passwd");
  ASSERT_NE(link, nullptr) << Describe(report);
  EXPECT_EQ(link->severity, Severity::kHigh);
  EXPECT_NE(FindFinding(report, rules::kArchivePathTraversal, "../outside.pkl"), nullptr);
}

TEST(TarScanner, EveryTypeFlagThatExtractorsWriteAsAFileIsScannedAsOne) {
  // GNU tar and Python's tarfile extract a member of an unknown type (and
  // GNU sparse, multi-volume, dump-dir and volume-label members) as a
  // regular file: each of those must show the payload.
  int scanned = 0;
  for (int flag = 0; flag < 256; ++flag) {
    char type = static_cast<char>(flag);
    // Links, devices, directories and metadata headers carry no file data.
    if (std::string_view("12345 6LKxgX").find(type) != std::string_view::npos && flag != ' ') {
      continue;
    }
    SCOPED_TRACE(flag);
    auto tar = testing::BuildTar({{"model/weights.pkl", EvilPickle(), type}});
    auto report = Scan(tar, "bundle.tar");
    ExpectPayloadFound(report, "model/weights.pkl");
    bool regular = type == '0' || type == '\0' || type == '7';
    EXPECT_EQ(FindFinding(report, rules::kArchiveUnusualMemberType) != nullptr, !regular)
        << Describe(report);
    ++scanned;
  }
  EXPECT_EQ(scanned, 256 - 11);
}

TEST(TarScanner, CorruptHeaderIsAnError) {
  auto tar = testing::BuildTar({{"a.pkl", BenignPickle()}, {"b.pkl", EvilPickle()}});
  tar[512 + 512 + 10] ^= 0x55;  // Inside the second header's name.
  auto report = Scan(tar, "bundle.tar");
  EXPECT_EQ(report.verdict, Verdict::kError) << Describe(report);
}

TEST(LibarchiveScanner, SevenZipBundleWithPayloadLinksAndEscapes) {
  auto archive = testing::BuildSevenZip(
      {{"model/pytorch_model.bin", BuildZip({{"archive/data.pkl", EvilPickle()}})},
       {"model/config.json", "{}"},
       {"model/link", "", '2', "/etc/passwd"},
       {"../escape.txt", "x"}});
  auto report = Scan(archive, "bundle.7z");
  EXPECT_EQ(report.format, "7z");
  ExpectPayloadFound(report, "model/pytorch_model.bin!/archive/data.pkl");
  EXPECT_NE(FindFinding(report, rules::kArchivePathTraversal, "/etc/passwd"), nullptr)
      << Describe(report);
  EXPECT_NE(FindFinding(report, rules::kArchivePathTraversal, "../escape.txt"), nullptr);
}

TEST(LibarchiveScanner, TruncatedSevenZipIsAnError) {
  auto archive =
      testing::BuildSevenZip({{"a.pkl", BenignPickle()}, {"b.txt", std::string(5000, 'b')}});
  for (size_t cut : {archive.size() / 4, archive.size() / 2, archive.size() - 3}) {
    auto report = Scan(archive.substr(0, cut), "bundle.7z");
    EXPECT_EQ(report.verdict, Verdict::kError) << "cut at " << cut << Describe(report);
  }
}

TEST(NestingLimit, DeeplyNestedArchivesStopWithAFinding) {
  std::string bytes = EvilPickle();
  for (int i = 0; i < 12; ++i) bytes = testing::GzipCompress(bytes);
  auto report = Scan(bytes, "deep.gz");
  EXPECT_NE(FindFinding(report, rules::kLimitExceeded, "max_nesting_depth"), nullptr)
      << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

}  // namespace
}  // namespace gauntlet
