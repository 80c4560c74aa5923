"""Plain-PyTorch baseline for `mpl bench zeroshot`: zero-shot evaluation of a random full-size ViT-B/16, batch
100 (the official test loader), text features computed once. Prints one JSON line."""
import json, sys, time
import torch
from clip_ref import Clip

threads, batches, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = Clip().eval()
with torch.no_grad():
    text = torch.randn(10, 512)
    text = text / text.norm(dim=-1, keepdim=True)
    images = torch.randn(batch, 3, 224, 224)
    model.encode_image(images[:2])  # warm-up
    best = float("inf")  # fastest batch: the estimate least disturbed by other load
    for _ in range(batches):
        t = time.perf_counter()
        f = model.encode_image(images)
        f = f / f.norm(dim=-1, keepdim=True)
        (100.0 * f @ text.t()).argmax(-1)
        best = min(best, time.perf_counter() - t)
print(json.dumps({"torch_version": torch.__version__, "torch_images_per_s": batch / best}))
