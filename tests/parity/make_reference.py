"""Reference outputs from Hugging Face transformers and peft, for the parity
check of Gauntlet's own Llama/Qwen2 forward pass, LoRA and greedy
generation (parity_check.cc). For each architecture it builds a random,
tiny model (grouped-query attention, Qwen2's attention biases), saves it
with save_pretrained (safetensors), adds a PEFT LoRA adapter with non-zero
weights on every projection, and records the logits of a fixed batch and
16 greedy tokens, without and with the adapter, on CPU (float32) and, when
CUDA is there, on the GPU. Usage: make_reference.py OUT_DIR
Exits 77 (skipped) where transformers or peft cannot be imported."""
import json
import os
import sys

try:
    import torch
    import transformers
    import peft
except ImportError as error:
    print(f"SKIPPED: {error.name} is not importable here (the GPU machine has transformers and peft)")
    sys.exit(77)

CONFIGS = {
    "llama": transformers.LlamaConfig(
        vocab_size=257, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False),
    "qwen2": transformers.Qwen2Config(
        vocab_size=257, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True),
}
PROMPTS = [[5, 17, 42, 99, 3, 250, 7, 8, 64, 128, 1, 31],
           [200, 11, 12, 13, 90, 91, 92, 4, 5, 6, 150, 151]]
NEW_TOKENS = 16


def outputs(model, device):
    model = model.to(device).eval()
    ids = torch.tensor(PROMPTS, device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float().cpu()
        greedy = model.generate(input_ids=ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                                min_new_tokens=NEW_TOKENS, pad_token_id=0, eos_token_id=None)
    return {"logits": logits.flatten().tolist(), "shape": list(logits.shape),
            "greedy": greedy[:, ids.shape[1]:].cpu().tolist()}


def main():
    out = sys.argv[1]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    reference = {"prompts": PROMPTS, "new_tokens": NEW_TOKENS, "torch": torch.__version__,
                 "transformers": transformers.__version__, "peft": peft.__version__, "models": {}}
    for name, config in CONFIGS.items():
        torch.manual_seed(1)
        base = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
        base_dir, adapter_dir = os.path.join(out, name, "base"), os.path.join(out, name, "adapter")
        base.save_pretrained(base_dir, safe_serialization=True)
        entry = {device: {"base": outputs(base, device)} for device in devices}
        lora = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False,
                               target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                               "gate_proj", "up_proj", "down_proj"])
        adapted = peft.get_peft_model(base.to("cpu"), lora)
        adapted.save_pretrained(adapter_dir)
        for device in devices:
            entry[device]["adapter"] = outputs(adapted, device)
        reference["models"][name] = entry
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)
    print(f"reference outputs for {', '.join(CONFIGS)} on {', '.join(devices)} in {out}")


if __name__ == "__main__":
    main()
