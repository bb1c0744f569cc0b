"""Table 3 (B), d_k=16 (d_v=64): PPL 5.16, BLEU 25.1, 58M parameters."""

from common import table3


def get_config():
    return table3(key_dim=16)
