// The registry gate: policy checks on a whole model rather than on bytes.
// Which formats its files use, which license its card or LICENSE file
// declares, and who published it (Hugging Face cache layout or an explicit
// flag), each against the policy's allowlists.
#ifndef GAUNTLET_COORDINATOR_REGISTRY_GATE_H_
#define GAUNTLET_COORDINATOR_REGISTRY_GATE_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/policy.h"
#include "common/report.h"

namespace gauntlet {

// The org of a Hugging Face cache path ".../models--ORG--NAME/snapshots/REV/...",
// or empty.
std::string PublisherFromPath(std::string_view path);

// Fills model.publisher and model.license (from the "license" metadata the
// worker reported for the model's top-level README.md or LICENSE file, the
// card first), and adds a finding for every check the policy switches on
// that the model fails.
void ApplyRegistryPolicy(const RegistryPolicy& policy, const std::vector<FileReport>& files,
                         std::string_view explicit_publisher, ModelReport& model);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_REGISTRY_GATE_H_
