"""bitmod_sim's shape pickles, built on the meta device from the zoo's config.json files.

bitmod_sim (abdelfattah-lab/BitMoD-HPCA-25, `bitmod_sim/llm_shape_profile.py`) downloads
each model's weights only to record, for every `nn.Linear`, its name and weight shape, and
pickles `(AutoConfig.to_dict(), {name: [out, in]})` to `model_shape_config/<key>.pickle`.
This script writes the same pickles without weights: the config comes from
`models/zoo/configs/<model>.json` (the public config.json values), the model is built with
`AutoModelForCausalLM.from_config` under `torch.device("meta")`, and the walk over
`named_modules()` is the peer's own loop.

Run with lowbit's venv (it needs transformers; bitmod_sim itself runs in its own venv,
see tests/data/bitmod_sim/README.md):

    .venv/bin/python benchmarks/bitmod_sim_shapes.py benchmarks/_work/bitmod/bitmod_sim/model_shape_config
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "models" / "zoo" / "configs"
# zoo name -> (HF id bitmod_sim uses, its pickle key in llm_shape_profile.py)
MODELS = {
    "opt-1.3b": ("facebook/opt-1.3b", "opt_1_point_3"),
    "phi-2": ("microsoft/phi-2", "phi_2"),
    "yi-6b": ("01-ai/Yi-6B", "yi_6"),
    "llama-2-7b": ("meta-llama/Llama-2-7b-hf", "llama_2_7"),
    "llama-2-13b": ("meta-llama/Llama-2-13b-hf", "llama_2_13"),
    "llama-3-8b": ("meta-llama/Meta-Llama-3-8B", "llama_3_8"),
}


def shapes(model: str) -> tuple[dict, dict[str, list[int]]]:
    """(config dict, {linear name: [out, in]}) of one zoo model, built on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = {k: v for k, v in json.loads((CONFIGS / f"{model}.json").read_text()).items()
           if not k.startswith("_")}
    cfg = AutoConfig.for_model(raw.pop("model_type"), **raw)
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(cfg)
    layer_config = {n: list(m.weight.shape) for n, m in net.named_modules()
                    if isinstance(m, torch.nn.Linear)}
    return cfg.to_dict(), layer_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="bitmod_sim's model_shape_config folder")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for model, (_, key) in MODELS.items():
        cfg, layers = shapes(model)
        with (args.out / f"{key}.pickle").open("wb") as fh:
            pickle.dump((cfg, layers), fh)
        params = sum(o * i for o, i in layers.values())
        print(f"{model}: {len(layers)} linears, {params / 1e9:.3f} G linear weights -> {key}.pickle")


if __name__ == "__main__":
    main()
