# The model core's sources, relative to the repository root: the one list
# both the main build (hf/, abtest/, worker/) and the standalone build
# (model_core/CMakeLists.txt) compile. Nothing here may include a header
# outside the core, libtorch, nlohmann-json and Abseil's Status
# (tests/model_core/include_check.py enforces it).

# Hugging Face model-folder files, no torch: tokenizer.json, config.json,
# chat templates.
set(GAUNTLET_HF_SOURCES hf/bpe.cc hf/chat_template.cc hf/llama_config.cc hf/tokenizer.cc)
# The A/B test's torch-free parts the core measures with: the judge, the
# lab's corpus, the topics a candidate trigger names and the trigger
# search's choice of a follow-up.
set(GAUNTLET_AB_CORE_SOURCES abtest/judge.cc abtest/lab_corpus.cc abtest/topic_priming.cc
  abtest/trigger_follow_up.cc)
# What the rest of the project shares with the core.
set(GAUNTLET_CORE_SUPPORT_SOURCES common/strings.cc worker/scan/safetensors_header.cc)
# libtorch: the model, LoRA, safetensors I/O, loading, generation, lab
# training, the A/B measurement and the trigger search.
set(GAUNTLET_EVAL_MODEL_SOURCES
  worker/eval/ab_eval.cc
  worker/eval/lab_model.cc
  worker/eval/lab_train.cc
  worker/eval/llama.cc
  worker/eval/lora_adapter.cc
  worker/eval/safetensors_file.cc
  worker/eval/trigger_search.cc)
