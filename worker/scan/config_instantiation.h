// Config-driven instantiation. Frameworks build whatever object a config
// names: Hydra's instantiate() and NeMo read `_target_`, LightningCLI and
// jsonargparse read `class_path`, and OmegaConf interpolations such as
// `${eval:...}` call whichever resolver the application registered. Those
// configs travel inside model archives (.nemo is a tar), as YAML and JSON in
// model folders, in safetensors `__metadata__` and in GGUF metadata, so a
// config is code as much as a pickle is.
//
// A target is judged by the pickle import policy (deny beats allow) and by
// the policy's [configs] allowed_targets: denied targets get their denylist
// severity (os, subprocess, builtins: CRITICAL), unknown ones HIGH.
#ifndef GAUNTLET_WORKER_SCAN_CONFIG_INSTANTIATION_H_
#define GAUNTLET_WORKER_SCAN_CONFIG_INSTANTIATION_H_

#include <cstdint>
#include <string_view>

namespace gauntlet::scan {

class ScanContext;

// Whether `text` mentions anything this check looks for: the cheap test
// that keeps large JSON files (tokenizer.json) from being parsed for nothing.
bool MayInstantiate(std::string_view text);

// Parses `text` as JSON or YAML and reports every instantiation target and
// resolver call in it. Text that is neither (a model card, a script) is left
// alone. `where` names the config in messages ("" for the file itself).
void AnalyzeConfigText(std::string_view text, std::string_view where, uint64_t offset,
                       ScanContext& ctx);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_CONFIG_INSTANTIATION_H_
