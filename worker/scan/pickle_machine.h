// A symbolic pickle virtual machine. It decodes every opcode of protocols
// 0-5, tracks the stack, the mark stack and the memo with symbolic values,
// and records what a real unpickler would import and call, without ever
// importing or calling anything.
//
// It is deliberately faithful to CPython's C unpickler (the one torch.load
// and pickle.load use): it accepts what that accepts (e.g. opcodes that
// straddle FRAME boundaries) and stops where that raises. Everything seen
// before a stop is kept, because Python has already executed it.
#ifndef GAUNTLET_WORKER_SCAN_PICKLE_MACHINE_H_
#define GAUNTLET_WORKER_SCAN_PICKLE_MACHINE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/policy.h"
#include "common/severity.h"

namespace gauntlet::scan {

struct PickleImport {
  std::string module;
  std::string name;
  uint64_t offset = 0;      // Of the opcode that imported it.
  std::string_view opcode;  // "GLOBAL", "STACK_GLOBAL", "INST" or "EXT".
  bool called = false;      // Used as the callable of REDUCE/NEWOBJ/INST/OBJ.
  std::string evidence;     // The first call expression, e.g. "os.system('id')".
  uint64_t count = 1;       // How many opcodes imported it.
  // How often its value was put on the stack (import, memo fetch, DUP) and
  // how many of those uses were calls of an argument-aware allowance:
  // getattr(<import>, 'Member') as Python 3.11+ pickles Enum members, and
  // functools.partial(<import>, ...). When every use was such a call the
  // import itself is not reported; the import it reached is judged as
  // called instead.
  uint64_t appearances = 0;
  uint64_t sanctioned_calls = 0;
  std::string qualified;    // "module.name".
};

// An observation about the stream's shape rather than about an import.
struct PickleEvent {
  std::string_view rule_id;
  Severity severity;
  std::string message;
  uint64_t offset;
  std::string evidence;
};

// Bytes that a pickle carries or decodes (base64, zlib, latin-1...) and that
// look like another pickle or container; the caller scans them.
struct EmbeddedBlob {
  uint64_t offset;
  std::string data;
  std::string how;  // e.g. "bytes constant", "base64.b64decode(...)".
  // Raw bytes where torch and numpy keep array data (a bytes constant, a
  // latin-1 string of protocol 2): a payload only with a strong signature
  // (tensor_bytes.h). Deliberately decoded bytes and what torch.load reads
  // are always scanned.
  bool strong_only = false;
};

struct PickleStop {
  std::string_view rule_id;  // pickle.parse_error, scan.limit_exceeded or scan.timeout.
  std::string message;
  uint64_t offset;
};

struct PickleResult {
  std::vector<PickleImport> imports;  // One per distinct (module, name), first seen first.
  std::vector<PickleEvent> events;
  std::vector<EmbeddedBlob> blobs;
  std::optional<PickleStop> stop;  // Set when the stream did not reach STOP.
  uint64_t start = 0;
  uint64_t end = 0;  // Offset just past STOP (or where analysis stopped).
  int protocol = 0;
  uint64_t opcodes = 0;
  bool first_opcode_invalid = false;  // Not a pickle at all at `start`.
  // Little-endian bytes of the top-level result when it is an integer
  // (legacy torch files start with a magic-number pickle).
  std::optional<std::string> int_result;
  bool is_joblib = false;  // Saw joblib's interleaved array data.
  // Every string constant of 4+ characters, newline-separated (capped), for
  // signature rules: commands and URLs hide in call arguments.
  std::string strings;
};

// Analyses the one pickle that starts at `start` in `data`, up to its STOP.
PickleResult AnalyzePickle(std::string_view data, uint64_t start, const ScanLimits& limits,
                           std::chrono::steady_clock::time_point deadline);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_PICKLE_MACHINE_H_
