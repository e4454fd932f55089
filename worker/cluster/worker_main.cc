// gauntlet-worker: a scan worker for a Gauntlet cluster. Pulls leases from
// the coordinator, scans each file in a fresh sandboxed child process, and
// serves its own Prometheus metrics.
#include "worker/cluster/worker_process.h"

int main(int argc, char** argv) { return gauntlet::RunWorkerProcess(argc, argv, {}); }
