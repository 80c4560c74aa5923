"""Plain-PyTorch baseline for `mpl bench train`: MPL training steps (SGD lr 0.0035, momentum 0.9, weight decay
5e-4, batch 4, cross-entropy, text features of all classes recomputed every step, full 77-token text as the
official code) and an evaluation pass (batch 100) on a random ViT-B/16, on a device in a precision:
  fp32; fp16 = the official PREC fp16 recipe (half model and prompts, no loss scaling); amp = autocast float16
  + GradScaler (official PREC amp); bf16 = autocast bfloat16.
Batches are copied from host memory every step, as the official trainer's `input.to(device)` does.
Memory: the resident peak of the process and of each phase (`torch_*peak_rss_bytes`; on a GPU also the
allocator's peak, `torch_peak_device_bytes`), under the benchmark's cap (memcap.py): a phase that does not fit
is reported (`torch_did_not_fit`), with no images/s, instead of failing the run.
METHOD kgcoop / prograd: their official trainers' steps instead (trainers/kgcoop.py: CoOp's 4 context tokens,
CE + 8·(1 − mean cosine to fixed hand-crafted text features); trainers/prograd.py with Dassl.ProGrad's
prograd_backward_and_update: 16 tokens, a second frozen CLIP's zero-shot logits, KL and CE backpropagated
separately, the CE gradient projected), lr 0.002.
Usage: train.py THREADS N_TRAIN N_EVAL N_CLASSES [DEVICE] [PRECISION] [METHOD]. Prints one JSON line."""
import json, sys, time
import torch
import torch.nn.functional as F
from clip_ref import Clip, MPL, TextContext
import memcap

threads, n_train, n_eval, n_cls = (int(a) for a in sys.argv[1:5])
device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
precision = sys.argv[6] if len(sys.argv) > 6 else "fp32"
method = sys.argv[7] if len(sys.argv) > 7 else "mpl"
torch.set_num_threads(threads)
torch.manual_seed(0)
cuda = device.startswith("cuda")
(torch.ones(64, 64) @ torch.ones(64, 64)).sum().item()  # the intra-op threads exist before the cap
limit = memcap.cap(cuda)
result = {"torch_version": torch.__version__, "device": device, "precision": precision, "torch_did_not_fit": []}
if limit is not None:
    result["torch_memory_limit_bytes"] = limit


def sync():
    if cuda:
        torch.cuda.synchronize()


clip = Clip().to(device)
mpl = (MPL(clip, n_cls) if method == "mpl" else TextContext(clip, n_cls, n_ctx=4 if method == "kgcoop" else 16)).to(device)
if precision == "fp16":
    clip.half_official()
    mpl.half_official()
params = [p for n, p in mpl.named_parameters() if not n.startswith("clip.")]
opt = torch.optim.SGD(params, lr=0.0035 if method == "mpl" else 0.002, momentum=0.9, weight_decay=5e-4)
if method == "kgcoop":
    with torch.no_grad():  # the hand-crafted prompts' features, computed once (KgCoOp's PromptLearner)
        teacher = mpl.text().detach().clone()
if method == "prograd":
    zs_text = mpl.text().detach().clone()  # zero-shot CLIP's class text features (the CLIP module of prograd.py)
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
    if method == "prograd":
        return prograd_step(x, y)
    with autocast():
        if method == "kgcoop":
            txt = mpl.text()
            score = 1.0 - torch.nn.CosineSimilarity(dim=1, eps=1e-07)(txt, teacher).mean()
            loss = F.cross_entropy(100.0 * mpl.image(x) @ txt.t(), y) + 8.0 * score
        else:
            loss = F.cross_entropy(mpl(x), y)
    opt.zero_grad()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


def prograd_step(x, y):
    """ProGrad.forward_backward + Dassl.ProGrad's prograd_backward_and_update (one parameter: the context)."""
    with autocast():
        output = mpl(x)
        with torch.no_grad():
            zs = 100.0 * mpl.image(x) @ zs_text.t()  # the zero-shot CLIP: a second image encoding, as the official zs_clip
        xe = F.cross_entropy(output, y)
        kl = (-F.softmax(zs, dim=-1) * F.log_softmax(output, -1)).sum(1).mean()
    opt.zero_grad()
    scale = (lambda t: scaler.scale(t)) if scaler is not None else (lambda t: t)
    scale(kl).backward(retain_graph=True)
    b = [p.grad.clone() for p in params]
    opt.zero_grad()
    scale(xe).backward()
    for p, bg in zip(params, b):
        bn = bg / torch.linalg.norm(bg)
        a = p.grad.clone()
        if torch.dot((a / torch.linalg.norm(a)).flatten(), bn.flatten()) < 0:
            p.grad = a - torch.dot(a.flatten(), bn.flatten()) * bn
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def phase(name, run):
    """Runs one timed phase; its resident (and GPU allocator) peak; a phase the cap refuses is recorded."""
    memcap.reset_peak()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    try:
        result[f"torch_{name}_images_per_s"] = run()
    except Exception as e:  # noqa: BLE001 -- only allocation failures are expected; others re-raised
        if not memcap.out_of_memory(e):
            raise
        result["torch_did_not_fit"].append(name)
        result[f"torch_{name}_images_per_s"] = None
    result[f"torch_{name}_peak_rss_bytes"] = memcap.peak_rss()
    if cuda:
        result[f"torch_{name}_peak_device_bytes"] = torch.cuda.max_memory_allocated(device)


def train():
    warmup = 3 if cuda else 1
    for _ in range(warmup):
        step()
    sync()
    t = time.perf_counter()
    steps = n_train // 4
    for _ in range(steps):
        step()
    sync()
    return steps * 4 / (time.perf_counter() - t)


def evaluate():
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
        return (n_eval // batch) * batch / (time.perf_counter() - t)


model_rss = memcap.peak_rss()
phase("train", train)
opt.zero_grad(set_to_none=True)
phase("eval", evaluate)
result["torch_peak_rss_bytes"] = max(model_rss, result["torch_train_peak_rss_bytes"], result["torch_eval_peak_rss_bytes"])
if cuda:
    result["torch_peak_device_bytes"] = max(result["torch_train_peak_device_bytes"], result["torch_eval_peak_device_bytes"])
result["trainable_parameters"] = sum(p.numel() for p in params)
print(json.dumps(result))
