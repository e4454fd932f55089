// Facts a model registry gates on that sit in a model's text files: the
// license its card (README.md YAML front matter) or its LICENSE file
// declares. The worker reads them while it scans those files (in the
// sandbox on a cluster) and reports them as file metadata, so a report is a
// function of stored results: nobody re-reads a file at report time, and
// uploaded models get the same facts as models read by path.
#ifndef GAUNTLET_WORKER_SCAN_MODEL_CARD_H_
#define GAUNTLET_WORKER_SCAN_MODEL_CARD_H_

#include <string>
#include <string_view>

#include "worker/scan/scan_context.h"

namespace gauntlet::scan {

// The metadata keys: the SPDX-style id, and where it was found.
inline constexpr char kLicenseKey[] = "license";
inline constexpr char kLicenseSourceKey[] = "license.source";
inline constexpr char kFromModelCard[] = "model card";
inline constexpr char kFromLicenseFile[] = "license file";

// The SPDX-style license id declared by a model card's YAML front matter
// (`license:`), or empty.
std::string LicenseFromModelCard(std::string_view readme);

// The license a LICENSE file's text is, by SPDX identifier line or by the
// well-known headers of common licenses; empty when unrecognised.
std::string LicenseFromLicenseText(std::string_view text);

// For a file named README.md (the model card) or LICENSE, LICENSE.txt,
// LICENSE.md or COPYING (any case): adds the license it declares, if any,
// to `ctx`'s metadata. Reads at most the first 64 KiB.
void AddModelCardFacts(std::string_view display_path, std::string_view content, ScanContext& ctx);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_MODEL_CARD_H_
