"""Table 3 (A), h=1, d_k=d_v=512: PPL 5.29, BLEU 24.9."""

from common import table3


def get_config():
    return table3(num_heads=1, head_dim=512)
