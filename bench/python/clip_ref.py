"""Plain-PyTorch CLIP ViT (OpenAI's model.py definitions, sequence-first, nn.MultiheadAttention) with the
MPL prompt operations of the official trainers/mpl.py + clip/model.py, for the benchmarks' baselines.
Random weights; only the work done matters. `half_official` applies the official PREC fp16 recipe
(OpenAI's convert_weights; ctx and proj in half, deep prompts cast with .half() where inserted)."""
from collections import OrderedDict
import torch
from torch import nn


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.type(torch.float32)).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, d, h, mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, h)
        self.ln_1 = LayerNorm(d)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d, d * 4)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(d * 4, d))]))
        self.ln_2 = LayerNorm(d)
        self.attn_mask = mask

    def forward(self, x):
        m = self.attn_mask.to(dtype=x.dtype, device=x.device) if self.attn_mask is not None else None
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=m)[0]
        return x + self.mlp(self.ln_2(x))


class Clip(nn.Module):
    def __init__(self, vw=768, vl=12, patch=16, image=224, tw=512, tl=12, embed=512, ctx=77, vocab=49408):
        super().__init__()
        g = image // patch
        self.conv1 = nn.Conv2d(3, vw, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(vw) * vw ** -0.5)
        self.vpos = nn.Parameter(torch.randn(g * g + 1, vw) * vw ** -0.5)
        self.ln_pre, self.ln_post = LayerNorm(vw), LayerNorm(vw)
        self.vblocks = nn.ModuleList([Block(vw, vw // 64) for _ in range(vl)])
        self.vproj = nn.Parameter(torch.randn(vw, embed) * vw ** -0.5)
        mask = torch.empty(ctx, ctx).fill_(float("-inf")).triu_(1)
        self.token_embedding = nn.Embedding(vocab, tw)
        self.tpos = nn.Parameter(torch.randn(ctx, tw) * 0.01)
        self.tblocks = nn.ModuleList([Block(tw, tw // 64, mask) for _ in range(tl)])
        self.ln_final = LayerNorm(tw)
        self.text_projection = nn.Parameter(torch.randn(tw, embed) * tw ** -0.5)
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def dtype(self):
        return self.conv1.weight.dtype

    def half_official(self):
        """OpenAI's convert_weights: Conv/Linear/attention weights and the projections in half; LayerNorm
        parameters and embeddings stay float32 and are cast where used."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.data = m.weight.data.half()
                if m.bias is not None:
                    m.bias.data = m.bias.data.half()
            if isinstance(m, nn.MultiheadAttention):
                for name in ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v"]:
                    t = getattr(m, name)
                    if t is not None:
                        t.data = t.data.half()
        for p in (self.vproj, self.text_projection):
            p.data = p.data.half()
        return self

    def encode_image(self, x, shallow=None, deep=None, n_rm=0):
        x = self.conv1(x.type(self.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], 1) + self.vpos.to(x.dtype)
        if shallow is not None:
            x = torch.cat([x, shallow.expand(x.shape[0], -1, -1).to(x.dtype)], 1)
        x = self.ln_pre(x).permute(1, 0, 2)
        for i, blk in enumerate(self.vblocks):
            if deep is not None and 1 <= i <= len(deep):  # MPL: remove the last n_rm, append the new ones
                x = x[: x.shape[0] - n_rm]
                x = torch.cat([x, deep[i - 1].unsqueeze(1).expand(-1, x.shape[1], -1).to(x.dtype)], 0)
            x = blk(x)
        return self.ln_post(x.permute(1, 0, 2)[:, 0, :]) @ self.vproj

    def encode_text_embeddings(self, prompts, eot, deep=None, n_ctx=1):
        x = (prompts + self.tpos.to(prompts.dtype)).permute(1, 0, 2)
        for i, blk in enumerate(self.tblocks):
            if deep is not None and 1 <= i <= len(deep):  # MaPLe/MPL: replace positions 1..n_ctx
                x = torch.cat([x[:1], deep[i - 1].unsqueeze(1).expand(-1, x.shape[1], -1).to(x.dtype), x[1 + n_ctx:]], 0)
            x = blk(x)
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection


class MPL(nn.Module):
    """MPL's prompt learner (trainers/mpl.py): N_CTX 1, N_ADD 2, N_RM 1, depth 9, widths from the model."""
    def __init__(self, clip, n_cls, n_ctx=1, n_add=2, n_rm=1, depth=9, prompt_len=12):
        super().__init__()
        tw, vw = clip.ln_final.weight.shape[0], clip.ln_pre.weight.shape[0]
        self.clip, self.n_ctx, self.n_add, self.n_rm, self.depth = clip, n_ctx, n_add, n_rm, depth
        self.ctx = nn.Parameter(torch.randn(n_ctx, tw) * 0.02)
        self.proj = nn.Linear(tw, vw)
        self.compound = nn.ParameterList([nn.Parameter(torch.randn(n_ctx, tw) * 0.02) for _ in range(depth - 1)])
        self.txt2img = nn.ModuleList([nn.ModuleList([nn.Linear(tw, vw) for _ in range(depth - 1)]) for _ in range(n_add)])
        emb = clip.token_embedding(torch.randint(0, 49000, (n_cls, 77), device=clip.tpos.device))
        self.register_buffer("prefix", emb[:, :1].clone())
        self.register_buffer("suffix", emb[:, 1 + n_ctx:].clone())
        self.register_buffer("eot", torch.full((n_cls,), prompt_len - 1, dtype=torch.long, device=clip.tpos.device))

    def half_official(self):
        """PREC fp16 (trainers/mpl.py): ctx and the frozen prompt embeddings in CLIP's dtype, proj.half();
        compound prompts and their projections stay float32 (cast with .half() where inserted)."""
        self.ctx.data = self.ctx.data.half()
        self.proj.half()
        self.prefix, self.suffix = self.prefix.half(), self.suffix.half()
        return self

    def forward(self, images):
        n_cls = self.prefix.shape[0]
        prompts = torch.cat([self.prefix, self.ctx.unsqueeze(0).expand(n_cls, -1, -1), self.suffix], 1)
        deep_v = [torch.cat([self.txt2img[a][k](self.compound[k]) for a in range(self.n_add)], 0) for k in range(self.depth - 1)]
        txt = self.clip.encode_text_embeddings(prompts, self.eot, list(self.compound), self.n_ctx)
        img = self.clip.encode_image(images, self.proj(self.ctx.to(self.proj.weight.dtype)), deep_v, self.n_rm)
        img = img / img.norm(dim=-1, keepdim=True)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        return 100.0 * img @ txt.t()


class TextContext(nn.Module):
    """CoOp's prompt learner as KgCoOp's and ProGrad's trainers use it (trainers/kgcoop.py, prograd.py): n_ctx
    learnable tokens before the class name, the image encoder untouched. `text()` = the class text features."""
    def __init__(self, clip, n_cls, n_ctx=4, prompt_len=12):
        super().__init__()
        tw = clip.ln_final.weight.shape[0]
        self.clip = clip
        self.ctx = nn.Parameter(torch.randn(n_ctx, tw) * 0.02)
        emb = clip.token_embedding(torch.randint(0, 49000, (n_cls, 77), device=clip.tpos.device))
        self.register_buffer("prefix", emb[:, :1].clone())
        self.register_buffer("suffix", emb[:, 1 + n_ctx:].clone())
        self.register_buffer("eot", torch.full((n_cls,), prompt_len - 1, dtype=torch.long, device=clip.tpos.device))

    def half_official(self):
        """PREC fp16: the context and the frozen prompt embeddings in CLIP's dtype."""
        self.ctx.data = self.ctx.data.half()
        self.prefix, self.suffix = self.prefix.half(), self.suffix.half()
        return self

    def text(self):
        n_cls = self.prefix.shape[0]
        prompts = torch.cat([self.prefix, self.ctx.unsqueeze(0).expand(n_cls, -1, -1), self.suffix], 1)
        txt = self.clip.encode_text_embeddings(prompts, self.eot)
        return txt / txt.norm(dim=-1, keepdim=True)

    def image(self, images):
        img = self.clip.encode_image(images)
        return img / img.norm(dim=-1, keepdim=True)

    def forward(self, images):
        return 100.0 * self.image(images) @ self.text().t()
