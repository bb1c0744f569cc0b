"""Table 3 (A), h=4, d_k=d_v=128: PPL 5.00, BLEU 25.5."""

from common import table3


def get_config():
    return table3(num_heads=4, head_dim=128)
