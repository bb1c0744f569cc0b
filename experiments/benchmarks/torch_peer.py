"""The peer: PyTorch `nn.Transformer` of the same shape as jaxformer's model.

Post-LN (norm_first=False, the paper's), one embedding shared by source, target and the output
projection, scaled by sqrt(D), sinusoidal positions, dropout P_drop on sub-layer outputs and
embeddings only (section 5.4: nn.Transformer's attention-probability and ReLU dropouts are set to
0, as in jaxformer's presets), Adam(0.9, 0.98, 1e-9) with the rsqrt schedule, label-smoothed (0.1) cross-entropy
summed over target tokens, float32. Decoding has no cache: every step re-runs the decoder over the
whole prefix, which is what `nn.Transformer` offers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from experiments.benchmarks.common import Shape
from jaxformer.layers import sinusoidal_table

PAD = 0


class PeerTransformer(nn.Module):
    def __init__(self, s: Shape, max_len: int = 1024):
        super().__init__()
        self.s = s
        self.embed = nn.Embedding(s.vocab, s.d_model)
        nn.init.normal_(self.embed.weight, std=s.d_model ** -0.5)
        self.register_buffer("pos", torch.from_numpy(sinusoidal_table(max_len, s.d_model)), persistent=False)
        self.drop = nn.Dropout(s.dropout)
        self.core = nn.Transformer(s.d_model, s.heads, s.enc_layers, s.dec_layers, s.d_ff, s.dropout,
                                   batch_first=True, norm_first=False)
        for layer in [*self.core.encoder.layers, *self.core.decoder.layers]:
            layer.dropout.p = 0.0  # the ReLU dropout inside the feed-forward block
            for attn in (getattr(layer, "self_attn", None), getattr(layer, "multihead_attn", None)):
                if attn is not None:
                    attn.dropout = 0.0  # attention-probability dropout

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.embed(x) * math.sqrt(self.s.d_model) + self.pos[: x.shape[1]])

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        return self.core.encoder(self._embed(src), src_key_padding_mask=src == PAD)

    def decode(self, memory: torch.Tensor, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, V] for every prefix position of `tgt_in` (shifted right, PAD as start)."""
        t = tgt_in.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=tgt_in.device)
        h = self.core.decoder(self._embed(tgt_in), memory, tgt_mask=causal, tgt_is_causal=True,
                              memory_key_padding_mask=src == PAD)
        return h @ self.embed.weight.T

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(src), src, tgt_in)


def make_train_step(model: PeerTransformer, warmup: int = 4000, label_smoothing: float = 0.1, accum: int = 1):
    """One Adam update per call; with `accum` > 1 the batch runs as that many micro-batches whose
    gradients add up to the same update (the loss is normalised by the whole batch's tokens)."""
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    d = model.s.d_model
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: d ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup ** -1.5))
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=label_smoothing, reduction="sum")

    def step(src: torch.Tensor, tgt: torch.Tensor) -> float:
        tokens = (tgt != PAD).sum()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for s_mb, t_mb in zip(src.chunk(accum), tgt.chunk(accum)):
            t_in = torch.nn.functional.pad(t_mb[:, :-1], (1, 0), value=PAD)
            logits = model(s_mb, t_in)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), t_mb.reshape(-1)) / tokens
            loss.backward()
            total += float(loss)
        opt.step()
        sched.step()
        return total

    return step


@torch.no_grad()
def greedy(model: PeerTransformer, src: torch.Tensor, length: int) -> torch.Tensor:
    """Uncached greedy decoding of exactly `length` tokens: step i re-decodes the i-token prefix."""
    memory = model.encode(src)
    out = torch.full((src.shape[0], 1), PAD, dtype=torch.long)
    for _ in range(length):
        logits = model.decode(memory, src, out)[:, -1]
        logits[:, PAD] = -float("inf")
        out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
    return out[:, 1:]


@torch.no_grad()
def beam_search(model: PeerTransformer, src: torch.Tensor, length: int, beam: int = 4) -> torch.Tensor:
    """Uncached beam search of exactly `length` steps (no early stop, as in the timed jaxformer
    run where EOS is masked too); returns the best beam [B, length]."""
    b = src.shape[0]
    src_k = src.repeat_interleave(beam, dim=0)
    memory = model.encode(src_k)
    seqs = torch.full((b * beam, 1), PAD, dtype=torch.long)
    scores = torch.full((b, beam), -float("inf"))
    scores[:, 0] = 0.0
    for _ in range(length):
        logits = model.decode(memory, src_k, seqs)[:, -1]
        logits[:, PAD] = -float("inf")
        logp = torch.log_softmax(logits, -1).view(b, beam, -1)
        total = (scores[:, :, None] + logp).view(b, -1)
        scores, flat = total.topk(beam, dim=-1)
        origin = flat // logp.shape[-1] + torch.arange(b)[:, None] * beam
        seqs = torch.cat([seqs[origin.view(-1)], (flat % logp.shape[-1]).view(-1, 1)], dim=1)
    return seqs.view(b, beam, -1)[:, 0, 1:]
