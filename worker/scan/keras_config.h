// Analyses a Keras model config (JSON), wherever it came from: the
// `model_config` attribute of a Keras 2 .h5 file or `config.json` inside a
// Keras 3 .keras zip. It walks the whole tree, nested sub-models included.
#ifndef GAUNTLET_WORKER_SCAN_KERAS_CONFIG_H_
#define GAUNTLET_WORKER_SCAN_KERAS_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

namespace gauntlet::scan {

class ScanContext;

// Reports Lambda layers (with the names their marshalled bytecode uses),
// function references to denied callables, custom objects from unknown
// modules and TFOpLambda layers.
void AnalyzeKerasConfig(std::string_view json_text, ScanContext& ctx);

// Identifier-like strings recorded in a marshalled Python code object
// (names, constants, attribute names, nested code). Version-independent: it
// reads string records, not the code object's layout.
std::vector<std::string> MarshalledNames(std::string_view marshal_bytes);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_KERAS_CONFIG_H_
