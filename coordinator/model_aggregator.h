// Groups per-file reports into models, the unit a registry approves. A model
// root is a Hugging Face cache snapshot (models--ORG--NAME/snapshots/REV), or
// a directory holding a model card or config (README.md, config.json,
// adapter_config.json, model_index.json), or else the directory the user
// named. Each file belongs to the deepest root above it; the model's verdict
// is the worst of its files' and of the registry gate's findings.
#ifndef GAUNTLET_COORDINATOR_MODEL_AGGREGATOR_H_
#define GAUNTLET_COORDINATOR_MODEL_AGGREGATOR_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/policy.h"
#include "common/report.h"

namespace gauntlet {

// Fills report.models for the directories the user asked to scan (files
// named directly are reported on their own). First, an ONNX model's external
// data files in the same report are labelled "onnx-external-data" instead of
// unrecognised content.
void AggregateModels(const std::vector<std::string>& directory_args, const Policy& policy,
                     std::string_view explicit_publisher, ScanReport& report);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_MODEL_AGGREGATOR_H_
