// The scanners this build knows, in the order they are offered content.
#ifndef GAUNTLET_WORKER_SCAN_SCANNER_REGISTRY_H_
#define GAUNTLET_WORKER_SCAN_SCANNER_REGISTRY_H_

#include <memory>
#include <span>

#include "worker/scan/scanner.h"

namespace gauntlet::scan {

std::span<const std::unique_ptr<Scanner>> DefaultScanners();

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SCANNER_REGISTRY_H_
