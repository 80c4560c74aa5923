"""Loads a Dassl checkpoint written by `mpl export` the way the official MPL trainer does, and evaluates it.

Run by test/prompting/dassl.test.ts with Debian's python3-torch (PyTorch 1.13). Input: a JSON file holding the
checkpoint path, the tiny CLIP's safetensors path, the MPL sizes, the prompts' token ids (one row of 77 per
class, tokenised by the TypeScript side), the images (a float32 .bin of [N, 3, S, S]) and their shape.

What it does, as the official code does it:
 * `torch.load(path, map_location="cpu")` (Dassl's load_checkpoint), then the trainer's `load_model`: drop
   token_prefix/suffix, `load_state_dict(state_dict, strict=False)` into a CustomCLIP-shaped module whose
   prompt learner has the official attribute names (ctx, proj, compound_prompts_text, txt2img_proj);
 * `torch.optim.SGD(...).load_state_dict(checkpoint["optimizer"])` over the loaded tensors;
 * the MPL forward of trainers/mpl.py + clip/model.py (shallow prompt proj(ctx) after the positional
   embedding; at vision blocks 1..D-1 drop N_RM_OP tokens and append the A coupled prompts; text blocks 1..D-1
   replace positions 1..n_ctx with compound_prompts_text), on openai/CLIP's ViT (bench/python/clip_ref.py).
Prints one JSON object: logits, epoch, load_state_dict's unexpected and missing keys, what the optimizer and
scheduler entries hold.
"""
import json
import os
import struct
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "python"))
from clip_ref import Clip  # noqa: E402


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=dtypes[v["dtype"]]).reshape(v["shape"]).clone().float()
    return out


def tiny_clip(path):
    w = read_safetensors(path)
    vw, tw = w["visual.conv1.weight"].shape[0], w["token_embedding.weight"].shape[1]
    patch, grid = w["visual.conv1.weight"].shape[-1], int(round((w["visual.positional_embedding"].shape[0] - 1) ** 0.5))
    vl = len({k.split(".")[3] for k in w if k.startswith("visual.transformer.resblocks.")})
    tl = len({k.split(".")[2] for k in w if k.startswith("transformer.resblocks.")})
    clip = Clip(vw=vw, vl=vl, patch=patch, image=patch * grid, tw=tw, tl=tl, embed=w["text_projection"].shape[1],
                ctx=w["positional_embedding"].shape[0], vocab=w["token_embedding.weight"].shape[0])
    names = {"conv1.weight": "visual.conv1.weight", "class_embedding": "visual.class_embedding",
             "vpos": "visual.positional_embedding", "vproj": "visual.proj", "token_embedding.weight": "token_embedding.weight",
             "tpos": "positional_embedding", "text_projection": "text_projection"}
    for side, prefix in (("ln_pre", "visual.ln_pre"), ("ln_post", "visual.ln_post"), ("ln_final", "ln_final")):
        for p in ("weight", "bias"):
            names[f"{side}.{p}"] = f"{prefix}.{p}"
    for blocks, prefix in (("vblocks", "visual.transformer.resblocks"), ("tblocks", "transformer.resblocks")):
        for i in range(vl if blocks == "vblocks" else tl):
            for p in ("attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
                      "ln_1.weight", "ln_1.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
                      "ln_2.weight", "ln_2.bias"):
                names[f"{blocks}.{i}.{p}"] = f"{prefix}.{i}.{p}"
    state = {ours: w[theirs] for ours, theirs in names.items()}
    missing, unexpected = clip.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return clip.eval(), float(w["logit_scale"].exp())


class MultiModalPromptLearner(nn.Module):
    """trainers/mpl.py's prompt learner: the attribute names that make the state-dict keys."""

    def __init__(self, n_ctx, depth, n_add, tw, vw):
        super().__init__()
        self.ctx = nn.Parameter(torch.zeros(n_ctx, tw))
        self.proj = nn.Linear(tw, vw)
        self.compound_prompts_text = nn.ParameterList([nn.Parameter(torch.zeros(n_ctx, tw)) for _ in range(depth - 1)])
        self.txt2img_proj = nn.ModuleList([nn.ModuleList([nn.Linear(tw, vw) for _ in range(depth - 1)]) for _ in range(n_add)])


class CustomCLIP(nn.Module):
    def __init__(self, clip, n_ctx, depth, n_add):
        super().__init__()
        tw, vw = clip.ln_final.weight.shape[0], clip.ln_pre.weight.shape[0]
        self.prompt_learner = MultiModalPromptLearner(n_ctx, depth, n_add, tw, vw)
        self.image_encoder = clip  # frozen CLIP: its keys are what strict=False leaves missing


def main():
    spec = json.load(open(sys.argv[1]))
    clip, scale = tiny_clip(spec["clip"])
    n_ctx, depth, n_add, n_rm = spec["n_ctx"], spec["depth"], spec["n_add"], spec["n_rm"]
    model = CustomCLIP(clip, n_ctx, depth, n_add)

    # Dassl's load_checkpoint + the trainer's load_model
    checkpoint = torch.load(spec["checkpoint"], map_location="cpu")
    state_dict = checkpoint["state_dict"]
    epoch = checkpoint["epoch"]
    for k in ("prompt_learner.token_prefix", "prompt_learner.token_suffix"):
        if k in state_dict:
            del state_dict[k]
    result = model.load_state_dict(state_dict, strict=False)
    missing_prompt_keys = [k for k in result.missing_keys if not k.startswith("image_encoder.")]

    # the optimizer entry restores into torch.optim.SGD over the same tensors (in the state dict's order)
    params = [dict(model.named_parameters())[k] for k in state_dict]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt.load_state_dict(checkpoint["optimizer"])
    momentum_buffers = sum(1 for s in opt.state.values() if "momentum_buffer" in s)

    # the MPL forward (evaluation mode)
    pl = model.prompt_learner
    with torch.no_grad():
        ids = torch.tensor(spec["token_ids"], dtype=torch.long)
        emb = clip.token_embedding(ids)
        prefix, suffix = emb[:, :1], emb[:, 1 + n_ctx:]
        prompts = torch.cat([prefix, pl.ctx.unsqueeze(0).expand(ids.shape[0], -1, -1), suffix], 1)
        eot = ids.argmax(-1)
        text = clip.encode_text_embeddings(prompts, eot, list(pl.compound_prompts_text), n_ctx)
        deep = [torch.cat([pl.txt2img_proj[a][k](pl.compound_prompts_text[k]) for a in range(n_add)], 0) for k in range(depth - 1)]
        raw = open(spec["images"], "rb").read()
        images = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(spec["images_shape"])
        image = clip.encode_image(images, pl.proj(pl.ctx), deep, n_rm)
        image = image / image.norm(dim=-1, keepdim=True)
        text = text / text.norm(dim=-1, keepdim=True)
        logits = scale * image @ text.t()

    sched = checkpoint["scheduler"]
    print(json.dumps({
        "torch": torch.__version__,
        "logits": logits.tolist(),
        "epoch": epoch,
        "keys": sorted(checkpoint.keys()),
        "unexpected_keys": result.unexpected_keys,
        "missing_prompt_keys": missing_prompt_keys,
        "momentum_buffers": momentum_buffers,
        "optimizer_lr": opt.param_groups[0]["lr"],
        "scheduler_last_epoch": sched["last_epoch"],
        "scheduler_warmup_epoch": sched["warmup_epoch"],
        "val_result": checkpoint["val_result"],
    }))


if __name__ == "__main__":
    main()
