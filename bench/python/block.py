"""Plain-PyTorch baseline for `mpl bench engine`: one CLIP ViT-B/16 residual block (OpenAI's definition:
nn.MultiheadAttention, LayerNorm, QuickGELU, pre-LN), batch 4 x (197 + 4 prompt) tokens, forward and
forward+backward where only the 4x768 prompt requires grad. Prints one JSON line."""
import json, sys, time
from collections import OrderedDict
import torch
from torch import nn

width, heads, batch, tokens, nprompt = 768, 12, 4, 197, 4
threads, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)

class ResidualAttentionBlock(nn.Module):  # openai/CLIP clip/model.py
    def __init__(self, d_model, n_head):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d_model, d_model * 4)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(d_model * 4, d_model))]))
        self.ln_2 = nn.LayerNorm(d_model)
    def attention(self, x):
        return self.attn(x, x, x, need_weights=False)[0]
    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))

block = ResidualAttentionBlock(width, heads)
for p in block.parameters():
    p.requires_grad_(False)
base = torch.randn(tokens, batch, width)
prompt = (torch.randn(nprompt, width) * 0.02).requires_grad_(True)

def run(backward):
    x = torch.cat([base, prompt.unsqueeze(1).expand(-1, batch, -1)], 0)
    if backward:
        block(x).sum().backward()
        prompt.grad = None
    else:
        with torch.no_grad():
            block(x)

def timeit(backward):
    """Fastest of `reps` timed runs (ms): the estimate least disturbed by other load on a shared machine."""
    for _ in range(2):
        run(backward)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        run(backward)
        best = min(best, time.perf_counter() - t)
    return best * 1000

print(json.dumps({"torch_version": torch.__version__, "torch_fwd_ms": timeit(False), "torch_fwdbwd_ms": timeit(True)}))
