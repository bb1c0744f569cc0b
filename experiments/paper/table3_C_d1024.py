"""Table 3 (C), d_model=1024, d_k=d_v=128: PPL 4.66, BLEU 26.0, 168M."""

from common import table3


def get_config():
    return table3(d_model=1024, head_dim=128)
