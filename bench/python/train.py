"""Plain-PyTorch baseline for `mpl bench train`: MPL training steps (SGD lr 0.0035, momentum 0.9, weight decay
5e-4, batch 4, cross-entropy, text features of all classes recomputed every step, full 77-token text as the
official code) and an evaluation pass (batch 100) on a random ViT-B/16, on a device in a precision:
  fp32; fp16 = the official PREC fp16 recipe (half model and prompts, no loss scaling); amp = autocast float16
  + GradScaler (official PREC amp); bf16 = autocast bfloat16.
Batches are copied from host memory every step, as the official trainer's `input.to(device)` does.
Usage: train.py THREADS N_TRAIN N_EVAL N_CLASSES [DEVICE] [PRECISION]. Prints one JSON line."""
import json, sys, time
import torch
import torch.nn.functional as F
from clip_ref import Clip, MPL

threads, n_train, n_eval, n_cls = (int(a) for a in sys.argv[1:5])
device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
precision = sys.argv[6] if len(sys.argv) > 6 else "fp32"
torch.set_num_threads(threads)
torch.manual_seed(0)
cuda = device.startswith("cuda")


def sync():
    if cuda:
        torch.cuda.synchronize()


clip = Clip().to(device)
mpl = MPL(clip, n_cls).to(device)
if precision == "fp16":
    clip.half_official()
    mpl.half_official()
params = [p for n, p in mpl.named_parameters() if not n.startswith("clip.")]
opt = torch.optim.SGD(params, lr=0.0035, momentum=0.9, weight_decay=5e-4)
autocast_dtype = {"amp": torch.float16, "bf16": torch.bfloat16}.get(precision)
scaler = None
if precision == "amp":
    scaler = torch.amp.GradScaler(device.split(":")[0]) if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()


def autocast():
    if autocast_dtype is None:
        return torch.autocast(device.split(":")[0], enabled=False)
    return torch.autocast(device.split(":")[0], dtype=autocast_dtype)


images = torch.randn(4, 3, 224, 224)
labels = torch.arange(4) % n_cls


def step():
    x, y = images.to(device), labels.to(device)
    with autocast():
        loss = F.cross_entropy(mpl(x), y)
    opt.zero_grad()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


warmup = 3 if cuda else 1
for _ in range(warmup):
    step()
sync()
t = time.perf_counter()
steps = n_train // 4
for _ in range(steps):
    step()
sync()
train_s = time.perf_counter() - t

batch = min(100, n_eval)
eval_images = torch.randn(batch, 3, 224, 224)
with torch.no_grad():
    with autocast():
        mpl(eval_images[:2].to(device)).argmax(-1).tolist()  # warm-up
    sync()
    t = time.perf_counter()
    for _ in range(n_eval // batch):
        with autocast():
            mpl(eval_images.to(device)).argmax(-1).tolist()
    sync()
    eval_s = time.perf_counter() - t
print(json.dumps({"torch_version": torch.__version__, "device": device, "precision": precision,
                  "torch_train_images_per_s": steps * 4 / train_s,
                  "torch_eval_images_per_s": (n_eval // batch) * batch / eval_s,
                  "trainable_parameters": sum(p.numel() for p in params)}))
