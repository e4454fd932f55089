// The pickle allowlist's semantics, as torch.load(weights_only=True) has
// them: a callable that the stream calls and nobody vetted is HIGH; the
// argument-aware allowances (Enum members through getattr, functools.partial
// of an allowed function) pass only in their exact shape; callables reached
// through other functions are judged as called. Then the gadget suite: one
// real loader path to code execution per class, each HIGH or CRITICAL.
#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/pickle_builder.h"
#include "tests/support/scan_assertions.h"
#include "worker/scan/file_scanner.h"

namespace gauntlet {
namespace {

using testing::Describe;
using testing::FindFinding;
using testing::PickleBuilder;

FileReport Scan(const std::string& bytes) {
  return testing::ScanFixture(bytes, "model.pkl", Policy::Default());
}

// Python 3.11+ writes an Enum member as getattr(<class>, '<NAME>'), the
// getattr fetched from the memo for every member after the first.
std::string EnumMembers(std::string_view module, std::string_view cls) {
  PickleBuilder p;
  p.Proto(4).EmptyList().Mark();
  p.Unicode("builtins").Unicode("getattr").StackGlobal().BinPut(0);
  p.Unicode(module).Unicode(cls).StackGlobal().BinPut(1).Unicode("STEPS").Tuple2().Reduce();
  p.BinGet(0).BinGet(1).Unicode("EPOCH").Tuple2().Reduce();
  p.Op('e').Stop();  // APPENDS
  return p.bytes();
}

TEST(PickleAllowlist, EnumMembersOfAnAllowedClassAreClean) {
  auto report = Scan(EnumMembers("transformers.trainer_utils", "IntervalStrategy"));
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
}

TEST(PickleAllowlist, EnumMembersOfAnUnknownClassAreHighForTheClassNotGetattr) {
  auto report = Scan(EnumMembers("mylib.options", "Mode"));
  const Finding* f = FindFinding(report, rules::kUnknownGlobal, "mylib.options.Mode");
  ASSERT_NE(f, nullptr) << Describe(report);
  EXPECT_EQ(f->severity, Severity::kHigh);
  EXPECT_EQ(f->evidence, "builtins.getattr(mylib.options.Mode, 'STEPS')");
  EXPECT_EQ(FindFinding(report, rules::kDangerousGlobal, "getattr"), nullptr) << Describe(report);
}

TEST(PickleAllowlist, GetattrOfADunderOrComputedNameStaysCritical) {
  for (std::string_view attr : {"__class__", "__init__", "a.b", "__globals__", "1x", ""}) {
    SCOPED_TRACE(attr);
    auto report = Scan(PickleBuilder()
                           .Proto(2)
                           .Global("builtins", "getattr")
                           .Global("collections", "OrderedDict")
                           .Unicode(attr)
                           .Tuple2()
                           .Reduce()
                           .Stop()
                           .bytes());
    EXPECT_TRUE(testing::HasFinding(report, rules::kDangerousGlobal, Severity::kCritical,
                                    Verdict::kMalicious, "builtins.getattr"));
  }
}

TEST(PickleAllowlist, GetattrUsedAsDataIsCriticalEvenBesideAnAllowedCall) {
  // One sanctioned call, then getattr itself handed to a function as data.
  PickleBuilder p;
  p.Proto(2).Global("builtins", "getattr").BinPut(0);
  p.Global("collections", "OrderedDict").Unicode("fromkeys").Tuple2().Reduce().Pop();
  p.Global("collections", "OrderedDict").Mark().BinGet(0).Tuple().Reduce().Stop();
  auto report = Scan(p.bytes());
  EXPECT_TRUE(testing::HasFinding(report, rules::kDangerousGlobal, Severity::kCritical,
                                  Verdict::kMalicious, "builtins.getattr"));
}

TEST(PickleAllowlist, CallingAnAttributeOfAnAllowedClassIsJudgedByItsDottedName) {
  // getattr(pathlib.PosixPath, 'write_text')(path, 'data'): an allowed
  // class's method is not an allowed callable.
  auto report = Scan(PickleBuilder()
                         .Proto(2)
                         .Global("builtins", "getattr")
                         .Global("pathlib", "PosixPath")
                         .Unicode("write_text")
                         .Tuple2()
                         .Reduce()
                         .Unicode("/tmp/x")
                         .Unicode("data")
                         .Tuple2()
                         .Reduce()
                         .Stop()
                         .bytes());
  EXPECT_TRUE(testing::HasFinding(report, rules::kUnknownGlobal, Severity::kHigh,
                                  Verdict::kMalicious, "pathlib.PosixPath.write_text"));
}

TEST(PickleAllowlist, CallingABoundMethodOfABuiltObjectIsAComputedCall) {
  // getattr(OrderedDict(), 'update')({...}): the callable exists only at load time.
  auto report = Scan(PickleBuilder()
                         .Proto(2)
                         .Global("builtins", "getattr")
                         .Global("collections", "OrderedDict")
                         .EmptyTuple()
                         .Reduce()
                         .Unicode("update")
                         .Tuple2()
                         .Reduce()
                         .EmptyDict()
                         .Tuple1()
                         .Reduce()
                         .Stop()
                         .bytes());
  EXPECT_TRUE(testing::HasFinding(report, rules::kComputedCall, Severity::kHigh,
                                  Verdict::kMalicious, "update"));
}

TEST(PickleAllowlist, PartialOfAnAllowedTensorFunctionIsClean) {
  // functools.partial(torch.nn.functional.gelu) as functools pickles it:
  // REDUCE of (func,), then BUILD with (func, args, kwds, dict). gelu is a
  // builtin of torch._C._nn; torch.relu pickles as an attribute of a class.
  PickleBuilder p;
  p.Proto(2).EmptyList().Mark();
  p.Global("functools", "partial").BinPut(9).Global("torch._C._nn", "gelu").BinPut(0);
  p.Tuple1().Reduce().Mark().BinGet(0).EmptyTuple().EmptyDict().None().Tuple().Build();
  p.BinGet(9).Global("builtins", "getattr").Global("torch._C", "_VariableFunctionsClass");
  p.Unicode("relu").Tuple2().Reduce().Tuple1().Reduce();
  p.Op('e').Stop();
  auto report = Scan(p.bytes());
  EXPECT_EQ(report.verdict, Verdict::kClean) << Describe(report);
  EXPECT_TRUE(report.findings.empty()) << Describe(report);
}

TEST(PickleAllowlist, PartialOfAnUnknownOrDeniedCallableIsCaught) {
  auto unknown = Scan(PickleBuilder()
                          .Proto(2)
                          .Global("functools", "partial")
                          .Global("mylib.hooks", "run")
                          .Tuple1()
                          .Reduce()
                          .Stop()
                          .bytes());
  EXPECT_TRUE(testing::HasFinding(unknown, rules::kUnknownGlobal, Severity::kHigh,
                                  Verdict::kMalicious, "mylib.hooks.run"));
  EXPECT_EQ(FindFinding(unknown, rules::kDangerousGlobal, "functools.partial"), nullptr);

  auto denied = Scan(PickleBuilder()
                         .Proto(2)
                         .Global("functools", "partial")
                         .Global("os", "system")
                         .Unicode("id")
                         .Tuple2()
                         .Reduce()
                         .Stop()
                         .bytes());
  EXPECT_TRUE(testing::HasFinding(denied, rules::kDangerousGlobal, Severity::kCritical,
                                  Verdict::kMalicious, "os.system"));
}

TEST(PickleAllowlist, PartialWhoseStateSwapsInAnotherFunctionIsJudgedByIt) {
  PickleBuilder p;
  p.Proto(2).Global("functools", "partial").Global("torch.nn.functional", "gelu");
  p.Tuple1().Reduce().Mark().Global("mylib.hooks", "run").EmptyTuple().EmptyDict().None();
  p.Tuple().Build().Stop();
  auto report = Scan(p.bytes());
  EXPECT_TRUE(testing::HasFinding(report, rules::kUnknownGlobal, Severity::kHigh,
                                  Verdict::kMalicious, "mylib.hooks.run"));
}

TEST(PickleAllowlist, FunctionsThatCallTheirArgumentMakeItCalled) {
  // torch._tensor._rebuild_from_type_v2(func, type, args, state) calls func.
  auto unknown = Scan(PickleBuilder()
                          .Proto(2)
                          .Global("torch._tensor", "_rebuild_from_type_v2")
                          .Mark()
                          .Global("mylib.hooks", "run")
                          .Global("torch", "Tensor")
                          .EmptyTuple()
                          .None()
                          .Tuple()
                          .Reduce()
                          .Stop()
                          .bytes());
  EXPECT_TRUE(testing::HasFinding(unknown, rules::kUnknownGlobal, Severity::kHigh,
                                  Verdict::kMalicious, "mylib.hooks.run"));

  // ... a class's attribute there is judged by its dotted name, and a
  // value built at load time there is a computed call.
  PickleBuilder attribute;
  attribute.Proto(2).Global("torch._tensor", "_rebuild_from_type_v2").Mark();
  attribute.Global("builtins", "getattr").Global("pathlib", "PosixPath").Unicode("write_text");
  attribute.Tuple2().Reduce().Global("torch", "Tensor").EmptyTuple().None().Tuple().Reduce().Stop();
  EXPECT_TRUE(testing::HasFinding(Scan(attribute.bytes()), rules::kUnknownGlobal, Severity::kHigh,
                                  Verdict::kMalicious, "pathlib.PosixPath.write_text"));

  PickleBuilder computed;
  computed.Proto(2).Global("torch._tensor", "_rebuild_from_type_v2").Mark();
  computed.Global("collections", "OrderedDict").EmptyTuple().Reduce();
  computed.Global("torch", "Tensor").EmptyTuple().None().Tuple().Reduce().Stop();
  auto report = Scan(computed.bytes());
  EXPECT_TRUE(testing::HasFinding(report, rules::kComputedCall, Severity::kHigh,
                                  Verdict::kMalicious, "_rebuild_from_type_v2"));
}

TEST(PickleAllowlist, LibraryHelpersAreNotAllowedWithTheirClasses) {
  // scikit-learn's classes are allowed one by one; its helpers are not.
  auto estimator = Scan(PickleBuilder()
                            .Proto(2)
                            .Global("sklearn.linear_model._logistic", "LogisticRegression")
                            .EmptyTuple()
                            .NewObj()
                            .EmptyDict()
                            .Build()
                            .Stop()
                            .bytes());
  EXPECT_EQ(estimator.verdict, Verdict::kClean) << Describe(estimator);
  for (auto [module, name] : {std::pair{"sklearn.utils._testing", "assert_run_python_script"},
                              std::pair{"sklearn.utils", "_print_elapsed_time"},
                              std::pair{"torch.nn.modules.module", "_addindent"}}) {
    SCOPED_TRACE(name);
    auto report = Scan(PickleBuilder().Proto(2).CallGlobal(module, name, "x").Stop().bytes());
    ASSERT_TRUE(report.MaxSeverity().has_value()) << Describe(report);
    EXPECT_GE(*report.MaxSeverity(), Severity::kHigh) << Describe(report);
    EXPECT_EQ(report.verdict, Verdict::kMalicious);
  }
}

// The gadget suite: callables in the standard library and the ML stack
// that compile, evaluate, spawn, fetch or import on their caller's behalf.
// Published scanner bypasses used each of these families; none may pass.
TEST(PickleGadgets, EveryCodeExecutionGadgetIsHighOrCritical) {
  struct Gadget {
    const char* module;
    const char* name;
  };
  const Gadget gadgets[] = {
      {"builtins", "exec"},
      {"posix", "system"},
      {"subprocess", "Popen"},
      {"asyncio.unix_events", "_UnixSubprocessTransport"},
      {"pydoc", "pipepager"},
      {"cProfile", "run"},
      {"timeit", "timeit"},
      {"trace", "Trace"},
      {"bdb", "Bdb"},
      {"code", "InteractiveInterpreter"},
      {"idlelib.pyshell", "ModifiedInterpreter"},
      {"lib2to3.pgen2.pgen", "generate_grammar"},
      {"distutils.spawn", "spawn"},
      {"setuptools.sandbox", "run_setup"},
      {"ensurepip", "_run_pip"},
      {"venv", "create"},
      {"_osx_support", "_read_output"},
      {"logging.config", "listen"},
      {"test.support.script_helper", "assert_python_ok"},
      {"unittest.mock", "_importer"},
      {"xmlrpc.client", "ServerProxy"},
      {"http.server", "test"},
      {"pip._internal.cli.main", "main"},
      {"numpy.testing._private.utils", "runstring"},
      {"numpy", "load"},
      {"numpy.lib.utils", "safe_eval"},
      {"torch.serialization", "load"},
      {"torch._inductor.codecache", "compile_file"},
      {"torch.fx.experimental.symbolic_shapes", "ShapeEnv"},
      {"torch.utils.cpp_extension", "load_inline"},
      {"torch.testing._internal.common_utils", "shell"},
      {"torch._dynamo.guards", "GuardBuilder"},
      {"sklearn.utils._testing", "assert_run_python_script"},
      {"keras.src.utils.file_utils", "get_file"},
      {"pandas.io.pickle", "read_pickle"},
      {"jinja2", "Template"},
      {"IPython.utils.process", "system"},
      {"operator", "methodcaller"},
      {"functools", "reduce"},
      {"types", "FunctionType"},
      {"importlib", "import_module"},
      {"pkgutil", "resolve_name"},
      {"runpy", "run_path"},
      {"ctypes", "CDLL"},
      {"webbrowser", "open"},
      {"urllib.request", "urlopen"},
      {"site", "addsitedir"},
      {"linecache", "updatecache"},
  };
  for (const Gadget& g : gadgets) {
    SCOPED_TRACE(std::string(g.module) + "." + g.name);
    auto report = Scan(PickleBuilder().Proto(2).CallGlobal(g.module, g.name, "id").Stop().bytes());
    ASSERT_TRUE(report.MaxSeverity().has_value()) << Describe(report);
    EXPECT_GE(*report.MaxSeverity(), Severity::kHigh) << Describe(report);
    EXPECT_EQ(report.verdict, Verdict::kMalicious);
  }
}

}  // namespace
}  // namespace gauntlet
