// Conversions between the scanner's own types (FileReport, Finding,
// ScanReport) and their wire form (gauntlet.v1.FileResult, ScanReportData).
// Both directions are lossless for every field a report writer reads.
#ifndef GAUNTLET_PROTO_CONVERT_H_
#define GAUNTLET_PROTO_CONVERT_H_

#include "common/report.h"
#include "common/verdict.h"
#include "gauntlet/v1/gauntlet.pb.h"

namespace gauntlet {

v1::FileResult ToProto(const FileReport& report);
FileReport FromProto(const v1::FileResult& result);

v1::ScanReportData ToProto(const ScanReport& report);
ScanReport FromProto(const v1::ScanReportData& data);

v1::Verdict ToProto(Verdict verdict);
// The worst severity of a result's findings; SEVERITY_UNSPECIFIED if none.
v1::Severity WorstSeverity(const v1::FileResult& result);
Verdict FromProto(v1::Verdict verdict);

}  // namespace gauntlet

#endif  // GAUNTLET_PROTO_CONVERT_H_
