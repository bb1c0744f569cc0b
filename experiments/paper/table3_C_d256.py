"""Table 3 (C), d_model=256, d_k=d_v=32: PPL 5.75, BLEU 24.5, 28M."""

from common import table3


def get_config():
    return table3(d_model=256, head_dim=32)
