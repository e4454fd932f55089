// TensorFlow's standard op registry (worker/scan/tf_standard_ops.txt,
// embedded at build time). An op outside it exists only in a custom op
// library, which the loader must dlopen: code Gauntlet cannot see.
#ifndef GAUNTLET_WORKER_SCAN_TF_STANDARD_OPS_H_
#define GAUNTLET_WORKER_SCAN_TF_STANDARD_OPS_H_

#include <string_view>

namespace gauntlet::scan {

bool IsStandardTfOp(std::string_view op);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_TF_STANDARD_OPS_H_
