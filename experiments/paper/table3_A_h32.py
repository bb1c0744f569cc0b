"""Table 3 (A), h=32, d_k=d_v=16: PPL 5.01, BLEU 25.4."""

from common import table3


def get_config():
    return table3(num_heads=32, head_dim=16)
