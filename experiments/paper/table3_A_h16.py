"""Table 3 (A), h=16, d_k=d_v=32: PPL 4.91, BLEU 25.8."""

from common import table3


def get_config():
    return table3(num_heads=16, head_dim=32)
