// One test per pickle-stream technique in docs/threats (shared/docs/threats.md):
// each builds the malicious stream in code and asserts the rule, the
// severity and the verdict.
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/escaping.h"
#include "common/rules.h"
#include "tests/support/archive_builder.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

using testing::Describe;
using testing::FindFinding;
using testing::HasFinding;
using testing::PickleBuilder;

FileReport Scan(const std::string& bytes, std::string_view name = "model.pkl",
                const Policy& policy = Policy::Default()) {
  return testing::ScanFixture(bytes, name, policy);
}

void ExpectDenied(const FileReport& report, std::string_view needle, Severity severity) {
  EXPECT_TRUE(HasFinding(report, rules::kDangerousGlobal, severity, Verdict::kMalicious, needle));
}

TEST(PickleScanner, ClassicReduceOfOsSystemIsCriticalAndShowsTheCall) {
  auto report = Scan(testing::OsSystemPickle());
  ExpectDenied(report, "os.system", Severity::kCritical);
  const Finding* f = FindFinding(report, rules::kDangerousGlobal);
  EXPECT_EQ(f->evidence, "os.system('id')");
  EXPECT_NE(f->message.find("called"), std::string::npos);
  EXPECT_EQ(f->location.offset, 2u);  // The GLOBAL opcode after PROTO.
}

TEST(PickleScanner, PlatformAliasesPosixAndNt) {
  for (const char* module : {"posix", "nt"}) {
    auto report = Scan(PickleBuilder().Proto(2).CallGlobal(module, "system", "id").Stop().bytes());
    ExpectDenied(report, std::string(module) + ".system", Severity::kCritical);
  }
}

TEST(PickleScanner, StackGlobalOperandsFetchedFromMemoBehindDecoys) {
  // Decoy strings are memoized, then the real operands are fetched by BINGET.
  PickleBuilder p;
  p.Proto(4).Unicode("collections").BinPut(0).Unicode("OrderedDict").BinPut(1).Pop().Pop();
  p.Unicode("subprocess").BinPut(2).Pop().Unicode("check_output").BinPut(3).Pop();
  p.BinGet(2).BinGet(3).StackGlobal().Unicode("id").Tuple1().Reduce().Stop();
  auto report = Scan(p.bytes());
  ExpectDenied(report, "subprocess.check_output", Severity::kCritical);
  EXPECT_EQ(FindFinding(report, rules::kDangerousGlobal, "collections"), nullptr);
}

TEST(PickleScanner, StackGlobalOperandsGivenAsProtocol0Strings) {
  auto bytes = PickleBuilder()
                   .Proto(4)
                   .String0("os")
                   .String0("system")
                   .StackGlobal()
                   .String0("id")
                   .Tuple1()
                   .Reduce()
                   .Stop()
                   .bytes();
  ExpectDenied(Scan(bytes), "os.system", Severity::kCritical);
}

TEST(PickleScanner, StackGlobalOperandsAsBytesOrIntsDoNotCrashAndAreNotClean) {
  auto as_bytes = PickleBuilder().Proto(4).Bytes("os").Bytes("system").StackGlobal().Stop().bytes();
  auto as_ints = PickleBuilder().Proto(4).Int(1).Int(2).StackGlobal().Stop().bytes();
  for (const auto& bytes : {as_bytes, as_ints}) {
    auto report = Scan(bytes);
    EXPECT_EQ(report.verdict, Verdict::kError) << Describe(report);
    EXPECT_NE(FindFinding(report, rules::kPickleParseError, "not strings"), nullptr)
        << Describe(report);
  }
}

TEST(PickleScanner, StackGlobalOnComputedOperandsIsUnresolvedCritical) {
  // The module name is the result of a call: nobody can know it statically.
  auto bytes = PickleBuilder()
                   .Proto(4)
                   .Global("builtins", "str")
                   .Unicode("os")
                   .Tuple1()
                   .Reduce()
                   .Unicode("system")
                   .StackGlobal()
                   .Stop()
                   .bytes();
  auto report = Scan(bytes);
  EXPECT_TRUE(
      HasFinding(report, rules::kUnresolvedGlobal, Severity::kCritical, Verdict::kMalicious));
}

TEST(PickleScanner, InstOpcodeOnDangerousClass) {
  auto bytes = PickleBuilder().Mark().Unicode("id").Inst("subprocess", "Popen").Stop().bytes();
  auto report = Scan(bytes);
  ExpectDenied(report, "subprocess.Popen", Severity::kCritical);
  EXPECT_NE(FindFinding(report, rules::kDangerousGlobal, "INST"), nullptr);
}

TEST(PickleScanner, ObjHiddenBehindPopIsCalledAndDiscarded) {
  auto bytes = PickleBuilder()
                   .Proto(2)
                   .Mark()
                   .Global("os", "system")
                   .Unicode("id")
                   .Obj()
                   .Pop()
                   .None()
                   .Stop()
                   .bytes();
  auto report = Scan(bytes);
  ExpectDenied(report, "os.system('id')", Severity::kCritical);
  const Finding* discarded = FindFinding(report, rules::kDiscardedCall, "POP");
  ASSERT_NE(discarded, nullptr) << Describe(report);
  EXPECT_EQ(discarded->severity, Severity::kLow);
}

TEST(PickleScanner, NewObjAndNewObjExOnDangerousClasses) {
  auto newobj = PickleBuilder()
                    .Proto(2)
                    .Global("subprocess", "Popen")
                    .Unicode("id")
                    .Tuple1()
                    .NewObj()
                    .Stop()
                    .bytes();
  ExpectDenied(Scan(newobj), "subprocess.Popen", Severity::kCritical);
  auto newobj_ex = PickleBuilder()
                       .Proto(4)
                       .Global("socket", "socket")
                       .EmptyTuple()
                       .EmptyDict()
                       .NewObjEx()
                       .Stop()
                       .bytes();
  ExpectDenied(Scan(newobj_ex), "socket.socket", Severity::kCritical);
}

TEST(PickleScanner, BuildSettingAttributesOnAnImportedObject) {
  // BUILD on a class overwrites its attributes for a later gadget.
  auto bytes = PickleBuilder()
                   .Proto(2)
                   .Global("collections", "OrderedDict")
                   .EmptyDict()
                   .Unicode("__reduce__")
                   .Global("os", "system")
                   .SetItem()
                   .Build()
                   .Stop()
                   .bytes();
  auto report = Scan(bytes);
  const Finding* f = FindFinding(report, rules::kBuildOnGlobal);
  ASSERT_NE(f, nullptr) << Describe(report);
  EXPECT_EQ(f->severity, Severity::kHigh);
  ExpectDenied(report, "os.system", Severity::kCritical);
  EXPECT_NE(FindFinding(report, rules::kDangerousGlobal, "referenced"), nullptr);
}

TEST(PickleScanner, DottedQualnameReachesDeniedModuleThroughAllowedOne) {
  auto bytes = PickleBuilder()
                   .Proto(4)
                   .Unicode("pathlib")
                   .Unicode("os.system")
                   .StackGlobal()
                   .Unicode("id")
                   .Tuple1()
                   .Reduce()
                   .Stop()
                   .bytes();
  ExpectDenied(Scan(bytes), "pathlib.os.system", Severity::kCritical);
}

TEST(PickleScanner, DunderAttributeChainIsCritical) {
  auto bytes = PickleBuilder()
                   .Proto(4)
                   .Unicode("builtins")
                   .Unicode("object.__class__.__base__.__subclasses__")
                   .StackGlobal()
                   .EmptyTuple()
                   .Reduce()
                   .Stop()
                   .bytes();
  auto report = Scan(bytes);
  EXPECT_TRUE(
      HasFinding(report, rules::kDunderTraversal, Severity::kCritical, Verdict::kMalicious));
}

TEST(PickleScanner, ExtensionCodesWithoutAnyGlobal) {
  for (auto bytes :
       {PickleBuilder().Proto(2).Ext1(1).Unicode("id").Tuple1().Reduce().Stop().bytes(),
        PickleBuilder().Proto(2).Ext2(300).Unicode("id").Tuple1().Reduce().Stop().bytes(),
        PickleBuilder().Proto(2).Ext4(70000).Unicode("id").Tuple1().Reduce().Stop().bytes()}) {
    auto report = Scan(bytes);
    const Finding* f = FindFinding(report, rules::kExtensionCode);
    ASSERT_NE(f, nullptr) << Describe(report);
    EXPECT_EQ(f->severity, Severity::kCritical);
    EXPECT_EQ(report.verdict, Verdict::kMalicious);
  }
}

TEST(PickleScanner, PayloadInASecondConcatenatedPickle) {
  std::string benign = PickleBuilder().Proto(2).EmptyDict().Stop().bytes();
  std::string evil = testing::OsSystemPickle();
  auto report = Scan(benign + evil);
  ExpectDenied(report, "os.system", Severity::kCritical);
  EXPECT_EQ(FindFinding(report, rules::kDangerousGlobal)->location.offset, benign.size() + 2);
}

TEST(PickleScanner, TrailingGarbageAfterLastPickleIsReportedNotIgnored) {
  std::string benign = PickleBuilder().Proto(2).EmptyDict().Stop().bytes();
  auto report = Scan(benign + std::string("\xff\xfe garbage", 10));
  EXPECT_NE(FindFinding(report, rules::kTrailingData), nullptr) << Describe(report);
}

TEST(PickleScanner, BrokenStreamAfterPayloadStillReportsThePayload) {
  // nullifAI: REDUCE runs, then the stream breaks. Python already ran it.
  std::string bytes = PickleBuilder().Proto(2).CallGlobal("os", "system", "id").bytes() +
                      std::string("\xfe\xfd\xfc", 3);
  auto report = Scan(bytes);
  ExpectDenied(report, "os.system", Severity::kCritical);
  EXPECT_NE(FindFinding(report, rules::kPickleParseError, "invalid opcode"), nullptr);
  EXPECT_FALSE(report.fully_analysed);
}

TEST(PickleScanner, OpcodeStraddlingAFrameBoundary) {
  PickleBuilder p;
  p.Proto(4).Frame(3);  // The frame ends inside the SHORT_BINUNICODE below.
  p.Unicode("os").Unicode("system").StackGlobal().Unicode("id").Tuple1().Reduce().Stop();
  auto report = Scan(p.bytes());
  const Finding* f = FindFinding(report, rules::kFrameViolation);
  ASSERT_NE(f, nullptr) << Describe(report);
  EXPECT_EQ(f->severity, Severity::kMedium);
  ExpectDenied(report, "os.system", Severity::kCritical);
}

TEST(PickleScanner, NestedPickleInsidePickleLoads) {
  std::string inner = testing::OsSystemPickle();
  auto outer = PickleBuilder()
                   .Proto(2)
                   .Global("pickle", "loads")
                   .Bytes(inner)
                   .Tuple1()
                   .Reduce()
                   .Stop()
                   .bytes();
  auto report = Scan(outer);
  ExpectDenied(report, "pickle.loads", Severity::kCritical);
  const Finding* nested = FindFinding(report, rules::kDangerousGlobal, "os.system");
  ASSERT_NE(nested, nullptr) << Describe(report);
  EXPECT_NE(nested->location.member.find("<embedded@"), std::string::npos);
}

TEST(PickleScanner, Base64AndZlibWrappedInnerPayloadIsDecodedAndScanned) {
  std::string inner = PickleBuilder().Proto(2).CallGlobal("posix", "system", "id").Stop().bytes();
  std::string b64;
  absl::Base64Escape(inner, &b64);
  auto b64_pickle = PickleBuilder()
                        .Proto(2)
                        .Global("torch", "load")
                        .Global("base64", "b64decode")
                        .Unicode(b64)
                        .Tuple1()
                        .Reduce()
                        .Tuple1()
                        .Reduce()
                        .Stop()
                        .bytes();
  auto report = Scan(b64_pickle);
  ExpectDenied(report, "torch.load", Severity::kCritical);
  EXPECT_NE(FindFinding(report, rules::kDangerousGlobal, "posix.system"), nullptr)
      << Describe(report);

  auto zlib_pickle = PickleBuilder()
                         .Proto(2)
                         .Global("pickle", "loads")
                         .Global("zlib", "decompress")
                         .Bytes(testing::ZlibCompress(inner))
                         .Tuple1()
                         .Reduce()
                         .Tuple1()
                         .Reduce()
                         .Stop()
                         .bytes();
  report = Scan(zlib_pickle);
  EXPECT_NE(FindFinding(report, rules::kDangerousGlobal, "posix.system"), nullptr)
      << Describe(report);
}

TEST(PickleScanner, GadgetCallablesAreDenied) {
  const std::pair<const char*, const char*> gadgets[] = {
      {"builtins", "__import__"},
      {"builtins", "getattr"},
      {"importlib", "import_module"},
      {"operator", "attrgetter"},
      {"operator", "methodcaller"},
      {"functools", "partial"},
      {"marshal", "loads"},
      {"types", "FunctionType"},
      {"pip", "main"},
      {"runpy", "_run_code"},
      {"timeit", "timeit"},
      {"cProfile", "run"},
      {"code", "interact"},
      {"pydoc", "pipepager"},
      {"ctypes", "CDLL"},
      {"uuid", "_get_command_stdout"},
      {"asyncio.unix_events", "_UnixSubprocessTransport"},
      {"torch.serialization", "load"},
      {"numpy.testing._private.utils", "runstring"},
      {"builtins", "eval"},
      {"__builtin__", "exec"},
      {"shutil", "rmtree"},
  };
  for (const auto& [module, name] : gadgets) {
    auto report = Scan(PickleBuilder().Proto(2).CallGlobal(module, name, "x").Stop().bytes());
    SCOPED_TRACE(std::string(module) + "." + name);
    const Finding* f = FindFinding(report, rules::kDangerousGlobal);
    ASSERT_NE(f, nullptr) << Describe(report);
    EXPECT_GE(f->severity, Severity::kHigh);
    EXPECT_EQ(report.verdict, Verdict::kMalicious);
  }
}

TEST(PickleScanner, NetworkModulesAreHigh) {
  auto report =
      Scan(PickleBuilder().Proto(2).CallGlobal("requests.api", "get", "http://x").Stop().bytes());
  ExpectDenied(report, "requests.api.get", Severity::kHigh);
}

TEST(PickleScanner, ImportingAScannersOwnModulesIsDenied) {
  auto report = Scan(
      PickleBuilder().Proto(2).CallGlobal("modelscan.scanners", "disable", "x").Stop().bytes());
  ExpectDenied(report, "modelscan", Severity::kHigh);
}

TEST(PickleScanner, UnknownCalledImportIsHighAndReferencedIsLow) {
  // Allowlist semantics: a callable nobody vetted runs code on load.
  auto called =
      Scan(PickleBuilder().Proto(2).CallGlobal("mylib.layers", "Dense", "x").Stop().bytes());
  const Finding* f = FindFinding(called, rules::kUnknownGlobal, "mylib.layers.Dense");
  ASSERT_NE(f, nullptr) << Describe(called);
  EXPECT_EQ(f->severity, Severity::kHigh);
  EXPECT_EQ(called.verdict, Verdict::kMalicious);

  auto referenced = Scan(PickleBuilder().Proto(2).Global("mylib", "CONSTANT").Stop().bytes());
  f = FindFinding(referenced, rules::kUnknownGlobal, "referenced");
  ASSERT_NE(f, nullptr) << Describe(referenced);
  EXPECT_EQ(f->severity, Severity::kLow);
  EXPECT_EQ(referenced.verdict, Verdict::kClean);
}

TEST(PickleScanner, AllowlistedImportsProduceNoFinding) {
  auto report = Scan(testing::BenignPickle());
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kClean);
}

TEST(PickleScanner, RepeatedImportsAreMergedIntoOneFinding) {
  PickleBuilder p;
  p.Proto(2).EmptyList();
  for (int i = 0; i < 500; ++i) p.Global("mylib", "Thing").Append();
  auto report = Scan(p.Stop().bytes());
  ASSERT_EQ(report.findings.size(), 1u) << Describe(report);
  EXPECT_NE(report.findings[0].message.find("500 times"), std::string::npos);
}

TEST(PickleScanner, DupFloodFinishesFastWithAFinding) {
  PickleBuilder p;
  p.Proto(2).EmptyList();
  for (int i = 0; i < 200000; ++i) p.Dup();
  p.Stop();
  auto start = std::chrono::steady_clock::now();
  auto report = Scan(p.bytes());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(FindFinding(report, rules::kDupFlood), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kSuspicious);
}

TEST(PickleScanner, MemoExpansionBombFinishesFastWithAFinding) {
  // Billion laughs: each level is a list of ten references to the previous.
  PickleBuilder p;
  p.Proto(2).EmptyList().BinPut(0);
  for (int level = 1; level < 200; ++level) {
    p.EmptyList();
    for (int i = 0; i < 100; ++i) p.BinGet(static_cast<uint8_t>((level - 1) % 256)).Append();
    p.BinPut(static_cast<uint8_t>(level % 256));
  }
  p.Stop();
  auto report = Scan(p.bytes());
  EXPECT_NE(FindFinding(report, rules::kMemoExpansion), nullptr) << Describe(report);
}

TEST(PickleScanner, OpcodeLimitIsAFindingAndNeverClean) {
  auto policy = Policy::FromToml("[limits]\nmax_pickle_opcodes = 1000\n", "test");
  ASSERT_TRUE(policy.ok());
  PickleBuilder p;
  p.Proto(2).EmptyList();
  for (int i = 0; i < 2000; ++i) p.None().Append();
  auto report = Scan(p.Stop().bytes(), "model.pkl", *policy);
  EXPECT_NE(FindFinding(report, rules::kLimitExceeded, "max_pickle_opcodes"), nullptr);
  EXPECT_EQ(report.verdict, Verdict::kError);
}

TEST(PickleScanner, Protocol0PickleRenamedAsJsonIsStillScanned) {
  std::string bytes = "cos\nsystem\n(S'id'\ntR.";
  auto report = Scan(bytes, "config.json");
  ExpectDenied(report, "os.system", Severity::kCritical);
}

TEST(PickleScanner, ExtensionLiesAreReported) {
  std::string evil = testing::OsSystemPickle();
  for (const char* name : {"model.safetensors", "weights.json", "model.gguf"}) {
    auto report = Scan(evil, name);
    SCOPED_TRACE(name);
    const Finding* lie = FindFinding(report, rules::kExtensionMismatch);
    ASSERT_NE(lie, nullptr) << Describe(report);
    EXPECT_EQ(lie->severity, Severity::kMedium);
    ExpectDenied(report, "os.system", Severity::kCritical);
  }
  // A .bin or .pt holding a raw pickle is normal, not a lie.
  for (const char* name : {"pytorch_model.bin", "model.pt", "model.ckpt"}) {
    EXPECT_EQ(FindFinding(Scan(evil, name), rules::kExtensionMismatch), nullptr) << name;
  }
}

TEST(PickleScanner, PlainTextIsClean) {
  auto report = Scan("# Model card\nThis model classifies cats.\n", "README.md");
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kClean);
}

TEST(PickleScanner, UnrecognisedBinaryIsNotClean) {
  std::string blob;
  for (int i = 0; i < 256; ++i) blob.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  auto report = Scan(blob, "tokenizer.model");
  EXPECT_NE(FindFinding(report, rules::kUnrecognizedFormat), nullptr) << Describe(report);
  EXPECT_EQ(report.verdict, Verdict::kSuspicious);
}

TEST(PickleScanner, PolicyCanAllowAnImportAndSilenceARule) {
  auto policy = Policy::FromToml(
      "[imports.allow]\npatterns = [\"mylib.*\"]\n[rules]\n\"format.unrecognized\" = \"OFF\"\n",
      "test");
  ASSERT_TRUE(policy.ok()) << policy.status();
  auto report = Scan(PickleBuilder().Proto(2).CallGlobal("mylib", "Dense", "x").Stop().bytes(),
                     "m.pkl", *policy);
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
  // The user layer cannot hide a denied module by allowing a parent glob of it
  // only if they ask for it explicitly; deny in the default layer still holds.
  auto evil = Scan(PickleBuilder().Proto(2).CallGlobal("os", "system", "x").Stop().bytes(), "m.pkl",
                   *policy);
  ExpectDenied(evil, "os.system", Severity::kCritical);
}

}  // namespace
}  // namespace gauntlet
