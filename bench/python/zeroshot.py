"""Plain-PyTorch baseline for `mpl bench zeroshot`: zero-shot evaluation of a random full-size ViT-B/16, batch
100 (the official test loader), text features computed once, on a device in a precision (fp32; fp16 = the
official half model; amp / bf16 = autocast). Batches are copied from host memory, as the official loader's
are. Usage: zeroshot.py THREADS BATCHES BATCH [DEVICE] [PRECISION]. Prints one JSON line."""
import json, sys, time
import torch
from clip_ref import Clip

threads, batches, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
precision = sys.argv[5] if len(sys.argv) > 5 else "fp32"
torch.set_num_threads(threads)
torch.manual_seed(0)
cuda = device.startswith("cuda")
model = Clip().to(device).eval()
if precision == "fp16":
    model.half_official()
autocast_dtype = {"amp": torch.float16, "bf16": torch.bfloat16}.get(precision)


def autocast():
    if autocast_dtype is None:
        return torch.autocast(device.split(":")[0], enabled=False)
    return torch.autocast(device.split(":")[0], dtype=autocast_dtype)


with torch.no_grad():
    text = torch.randn(10, 512, device=device)
    text = text / text.norm(dim=-1, keepdim=True)
    images = torch.randn(batch, 3, 224, 224)

    def run():
        with autocast():
            f = model.encode_image(images.to(device))
            f = f / f.norm(dim=-1, keepdim=True)
            return (100.0 * f @ text.t().to(f.dtype)).argmax(-1).tolist()

    run()  # warm-up
    best = float("inf")  # fastest batch: the estimate least disturbed by other load
    for _ in range(batches):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
print(json.dumps({"torch_version": torch.__version__, "device": device, "precision": precision, "torch_images_per_s": batch / best}))
