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

// The SPDX-style license id declared by a model card's YAML front matter
// (`license:`), or empty.
std::string LicenseFromModelCard(std::string_view readme);

// The license a LICENSE file's text is, by SPDX identifier line or by the
// well-known headers of common licenses; empty when unrecognised.
std::string LicenseFromLicenseText(std::string_view text);

// Fills model.publisher and model.license, and adds a finding for every
// check the policy switches on that the model fails.
void ApplyRegistryPolicy(const RegistryPolicy& policy, const std::vector<FileReport>& files,
                         std::string_view explicit_publisher, ModelReport& model);

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_REGISTRY_GATE_H_
