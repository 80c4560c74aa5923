"""Plain-PyTorch baseline for `mpl bench train`: one MPL training epoch (SGD lr 0.0035, momentum 0.9, weight
decay 5e-4, batch 4, cross-entropy, text features of all classes recomputed every step, full 77-token text
as the official code) and one evaluation pass (batch 100) on a random ViT-B/16. Prints one JSON line."""
import json, sys, time
import torch
import torch.nn.functional as F
from clip_ref import Clip, MPL

threads, n_train, n_eval, n_cls = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
clip = Clip()
mpl = MPL(clip, n_cls)
params = [p for n, p in mpl.named_parameters() if not n.startswith("clip.")]
opt = torch.optim.SGD(params, lr=0.0035, momentum=0.9, weight_decay=5e-4)
images = torch.randn(4, 3, 224, 224)
labels = torch.arange(4) % n_cls
t = time.perf_counter()
for _ in range(n_train // 4):
    loss = F.cross_entropy(mpl(images), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
train_s = time.perf_counter() - t
eval_images = torch.randn(n_eval, 3, 224, 224)
t = time.perf_counter()
with torch.no_grad():
    mpl(eval_images).argmax(-1)
eval_s = time.perf_counter() - t
print(json.dumps({"torch_version": torch.__version__, "torch_train_images_per_s": (n_train // 4) * 4 / train_s,
                  "torch_eval_images_per_s": n_eval / eval_s, "trainable_parameters": sum(p.numel() for p in params)}))
